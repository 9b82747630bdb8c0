"""Crash-group triage services: acknowledge, assign, resolve, ignore, reopen, notes and merge, each audited.

Every service locks the group row (select_for_update) so two support engineers acting at once both get an
audit row that matches what happened, in order.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import (
    AuditAction,
    CrashGroup,
    CrashGroupAlias,
    CrashGroupAuditEvent,
    CrashGroupDevice,
    CrashGroupNote,
    CrashGroupStatus,
    CrashReport,
)
from ..rollups.crash_groups import crash_group_rollups_move

User = get_user_model()
TRIAGE_PERMISSION = "telemetry.triage_crashgroup"  # the Meta permission of CrashGroup
STATUS_ACTIONS = {
    CrashGroupStatus.TRIAGED: AuditAction.ACKNOWLEDGE,
    CrashGroupStatus.RESOLVED: AuditAction.RESOLVE,
    CrashGroupStatus.IGNORED: AuditAction.IGNORE,
    CrashGroupStatus.NEW: AuditAction.REOPEN,
    CrashGroupStatus.REGRESSED: AuditAction.STATUS,
}


def _audit(*, group: CrashGroup, user, action: str, from_value: str = "", to_value: str = "", **detail) -> None:
    CrashGroupAuditEvent.objects.create(
        crash_group=group,
        action=action,
        actor=user if getattr(user, "pk", None) else None,
        actor_name=getattr(user, "username", "") or "system",
        from_value=from_value[:200],
        to_value=to_value[:200],
        detail=detail,
    )


def _locked(group_id: int) -> CrashGroup:
    return CrashGroup.objects.select_for_update().get(pk=group_id)


@transaction.atomic
def crash_group_status_set(*, group_id: int, user, status: str, resolved_in_version: str = "") -> CrashGroup:
    """Moves a group to `status`; resolving needs the app version with the fix (blank: 'next release')."""
    if status not in CrashGroupStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    group = _locked(group_id)
    before = group.status
    if status == CrashGroupStatus.RESOLVED:
        group.resolved_in_version = resolved_in_version.strip()
    elif before == CrashGroupStatus.RESOLVED:
        group.resolved_in_version = ""
    if before == status and status != CrashGroupStatus.RESOLVED:
        return group  # nothing changed: no audit row for a no-op
    group.status = status
    group.save(update_fields=["status", "resolved_in_version"])
    _audit(
        group=group,
        user=user,
        action=STATUS_ACTIONS[status],
        from_value=before,
        to_value=status,
        resolved_in_version=group.resolved_in_version,
    )
    return group


def crash_group_acknowledge(*, group_id: int, user) -> CrashGroup:
    """Support has seen it: new/regressed → triaged."""
    return crash_group_status_set(group_id=group_id, user=user, status=CrashGroupStatus.TRIAGED)


def crash_group_resolve(*, group_id: int, user, resolved_in_version: str) -> CrashGroup:
    """Fixed in an app version; a crash from that version or later regresses it (the ingest side's rule)."""
    return crash_group_status_set(
        group_id=group_id, user=user, status=CrashGroupStatus.RESOLVED, resolved_in_version=resolved_in_version
    )


def crash_group_ignore(*, group_id: int, user) -> CrashGroup:
    """Known and accepted: hidden from 'new and regressed' lists."""
    return crash_group_status_set(group_id=group_id, user=user, status=CrashGroupStatus.IGNORED)


@transaction.atomic
def crash_group_assign(*, group_id: int, user, assignee) -> CrashGroup:
    """Assigns a person (None unassigns)."""
    group = _locked(group_id)
    before = group.assignee.username if group.assignee_id else ""
    after = assignee.username if assignee is not None else ""
    if before == after:
        return group
    group.assignee = assignee
    group.save(update_fields=["assignee"])
    _audit(group=group, user=user, action=AuditAction.ASSIGN, from_value=before, to_value=after)
    return group


@transaction.atomic
def crash_group_note_add(*, group_id: int, user, body: str) -> CrashGroupNote:
    """Adds a note; empty notes are refused."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": "A note needs some text."})
    group = _locked(group_id)
    note = CrashGroupNote.objects.create(crash_group=group, author=user, body=body)
    _audit(group=group, user=user, action=AuditAction.NOTE, to_value=body[:200], note_id=note.pk)
    return note


@transaction.atomic
def crash_group_merge(*, target_id: int, source_id: int, user) -> CrashGroup:
    """Folds `source` into `target`: crashes, affected devices and notes move, counts are recomputed, source goes.

    The source's audit rows go with it, so the target's merge row keeps the source's identity and history size.
    """
    if target_id == source_id:
        raise ValidationError({"source": "A group cannot be merged into itself."})
    # Lock both rows in id order so two opposite merges cannot deadlock.
    locked = {
        g.pk: g for g in CrashGroup.objects.select_for_update().filter(pk__in=[target_id, source_id]).order_by("pk")
    }
    if len(locked) != 2:
        raise CrashGroup.DoesNotExist("Both groups must exist.")
    target, source = locked[target_id], locked[source_id]
    moved_crashes = CrashReport.objects.filter(group=source).update(group=target, fingerprint=target.fingerprint)
    # Devices already in the target stay once (the unique pair); the rest move over.
    CrashGroupDevice.objects.filter(
        group=source, device__in=CrashGroupDevice.objects.filter(group=target).values("device")
    ).delete()
    CrashGroupDevice.objects.filter(group=source).update(group=target)
    CrashGroupNote.objects.filter(crash_group=source).update(crash_group=target)
    # New crashes with the source's fingerprint (or one merged into it earlier) keep landing in the target.
    CrashGroupAlias.objects.filter(group=source).update(group=target)
    CrashGroupAlias.objects.create(fingerprint=source.fingerprint, group=target)
    crash_group_rollups_move(source_id=source.pk, target_id=target.pk)  # before the source's cascade delete
    # Counters, not a recount: raw crashes past retention are gone but still counted.
    target.event_count += source.event_count
    target.device_count = CrashGroupDevice.objects.filter(group=target).count()
    target.first_seen_at = min(target.first_seen_at, source.first_seen_at)
    target.last_seen_at = max(target.last_seen_at, source.last_seen_at)
    target.save(update_fields=["event_count", "device_count", "first_seen_at", "last_seen_at"])
    _audit(
        group=target,
        user=user,
        action=AuditAction.MERGE,
        from_value=f"#{source.pk} {source.title}",
        to_value=f"#{target.pk}",
        source_id=source.pk,
        source_fingerprint=source.fingerprint,
        source_title=source.title,
        source_status=source.status,
        moved_crashes=moved_crashes,
        source_audit_events=source.audit_events.count(),
    )
    source.delete()
    return target


def assignable_users():
    """People who may own a crash group: those with the triage permission (support and admin roles)."""
    return (
        User.objects.filter(is_active=True, groups__permissions__codename="triage_crashgroup")
        .distinct()
        .order_by("username")
    )
