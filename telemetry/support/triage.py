"""Crash-group triage services: acknowledge, assign, resolve, ignore, reopen, notes and merge, each audited.

Every service locks the group row (select_for_update) so two support engineers acting at once both get an
audit row that matches what happened, in order.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.dateparse import parse_datetime
from packaging.version import InvalidVersion, Version

from ..models import (
    AuditAction,
    CrashGroup,
    CrashGroupAlias,
    CrashGroupAuditEvent,
    CrashGroupDevice,
    CrashGroupNote,
    CrashGroupStatus,
    CrashReport,
    DailyCrashGroupRollup,
    HourlyCrashGroupRollup,
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
# The source group's columns a merge keeps in its audit row (with its id) to recreate it on unmerge.
UNDO_FIELDS = (
    "id", "fingerprint", "title", "culprit", "kind", "status", "resolved_in_version", "assignee_id",
    "first_seen_at", "last_seen_at", "event_count", "device_count",
)  # fmt: skip
CLOSED = (CrashGroupStatus.RESOLVED, CrashGroupStatus.IGNORED)
OPEN = (CrashGroupStatus.NEW, CrashGroupStatus.TRIAGED)


def version_clean(value: str) -> str:
    """A fixed-in app version as typed, if it parses as a version (PEP 440: 3.2.2, 3.3.0rc1); blank stays blank."""
    value = value.strip()
    if value:
        try:
            Version(value)
        except InvalidVersion:
            raise ValidationError(
                {"resolved_in_version": f"{value!r} is not a version (an app version such as 3.2.2)."}
            ) from None
    return value


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


def _json(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _moment(value: str) -> datetime:
    return parse_datetime(value)


def _locked(group_id: int) -> CrashGroup:
    return CrashGroup.objects.select_for_update().get(pk=group_id)


@transaction.atomic
def crash_group_status_set(*, group_id: int, user, status: str, resolved_in_version: str = "") -> CrashGroup:
    """Moves a group to `status`; resolving needs the app version with the fix (blank: 'next release')."""
    if status not in CrashGroupStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    if status == CrashGroupStatus.RESOLVED:
        resolved_in_version = version_clean(resolved_in_version)
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
        # Back from resolved or ignored is a reopen, whichever open status it lands in.
        action=AuditAction.REOPEN if before in CLOSED and status in OPEN else STATUS_ACTIONS[status],
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


def crash_group_reopen(*, group_id: int, user) -> CrashGroup:
    """A resolved or ignored group is open again (triaged: support has seen it); audited as a reopen."""
    return crash_group_status_set(group_id=group_id, user=user, status=CrashGroupStatus.TRIAGED)


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
    # What moves is written into the merge's audit row, so crash_group_unmerge can put it back.
    undo = {
        "group": {name: _json(getattr(source, name)) for name in UNDO_FIELDS},
        "target": {name: _json(getattr(target, name)) for name in ("event_count", "first_seen_at", "last_seen_at")},
        "crashes": list(CrashReport.objects.filter(group=source).values_list("id", flat=True)),
        "devices": [
            [device_id, _json(seen), shared]
            for device_id, seen, shared in CrashGroupDevice.objects.filter(group=source)
            .annotate(shared=Exists(CrashGroupDevice.objects.filter(group=target, device=OuterRef("device"))))
            .values_list("device_id", "first_seen_at", "shared")
        ],
        "notes": list(CrashGroupNote.objects.filter(crash_group=source).values_list("id", flat=True)),
        "aliases": list(CrashGroupAlias.objects.filter(group=source).values_list("fingerprint", flat=True)),
        "hourly": list(HourlyCrashGroupRollup.objects.filter(group=source).values_list("id", flat=True)),
        "daily": list(DailyCrashGroupRollup.objects.filter(group=source).values_list("id", flat=True)),
    }
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
        undo=undo,
    )
    source.delete()
    return target


def merge_event_undoable(*, target_id: int, source_id: int) -> CrashGroupAuditEvent | None:
    """The latest merge of `source_id` into the target that has not been undone (and still carries its undo data)."""
    merges = CrashGroupAuditEvent.objects.filter(
        crash_group_id=target_id, action=AuditAction.MERGE, detail__source_id=source_id, detail__has_key="undo"
    )
    undone = set(
        CrashGroupAuditEvent.objects.filter(crash_group_id=target_id, action=AuditAction.UNMERGE).values_list(
            "detail__merge_event_id", flat=True
        )
    )
    return next((event for event in merges.order_by("-created_at", "-id") if event.pk not in undone), None)


def merges_undoable(*, audit: list[CrashGroupAuditEvent]) -> set[int]:
    """Ids of the merge rows in a group's (loaded) audit trail that can still be undone; no query."""
    undone = {event.detail.get("merge_event_id") for event in audit if event.action == AuditAction.UNMERGE}
    return {
        event.pk for event in audit if event.action == AuditAction.MERGE and "undo" in event.detail
        and event.pk not in undone
    }  # fmt: skip


@transaction.atomic
def crash_group_unmerge(*, target_id: int, source_id: int, user) -> CrashGroup:
    """Undoes a merge: the source group comes back with its id, status, counts, crashes, devices, notes, aliases
    and crash-group rollup rows; the target's counts return to what they were before it.

    Crashes that arrived after the merge under the source's fingerprint stay in the target (they were counted there).
    """
    target = _locked(target_id)
    event = merge_event_undoable(target_id=target_id, source_id=source_id)
    if event is None:
        raise ValidationError({"source": f"Group #{source_id} was not merged into #{target_id}, or it was undone."})
    if CrashGroup.objects.filter(pk=source_id).exists():
        raise ValidationError({"source": f"Group #{source_id} exists again; nothing to undo."})
    undo = event.detail["undo"]
    fields = dict(undo["group"])
    for name in ("first_seen_at", "last_seen_at"):
        fields[name] = _moment(fields[name])
    source = CrashGroup.objects.create(**fields)
    CrashReport.objects.filter(id__in=undo["crashes"], group=target).update(
        group=source, fingerprint=source.fingerprint
    )
    CrashGroupDevice.objects.bulk_create(
        [CrashGroupDevice(group=source, device_id=device_id, first_seen_at=_moment(seen)) for device_id, seen, _ in
         undo["devices"]]
    )  # fmt: skip
    # Devices the source brought (not in the target before) leave the target unless it crashed on them since.
    brought = [device_id for device_id, _, shared in undo["devices"] if not shared]
    since = CrashReport.objects.filter(group=target, device_id__in=brought).values("device_id")
    CrashGroupDevice.objects.filter(group=target, device_id__in=brought).exclude(device_id__in=since).delete()
    CrashGroupNote.objects.filter(id__in=undo["notes"], crash_group=target).update(crash_group=source)
    CrashGroupAlias.objects.filter(fingerprint=source.fingerprint, group=target).delete()
    CrashGroupAlias.objects.filter(fingerprint__in=undo["aliases"], group=target).update(group=source)
    HourlyCrashGroupRollup.objects.filter(id__in=undo["hourly"], group=target).update(group=source)
    DailyCrashGroupRollup.objects.filter(id__in=undo["daily"], group=target).update(group=source)
    before = undo["target"]
    target.event_count = max(0, target.event_count - source.event_count)
    target.device_count = CrashGroupDevice.objects.filter(group=target).count()
    target.first_seen_at = _moment(before["first_seen_at"])
    before_last = _moment(before["last_seen_at"])
    if target.last_seen_at <= max(before_last, source.last_seen_at):  # no crash since the merge: as it was
        target.last_seen_at = before_last
    target.save(update_fields=["event_count", "device_count", "first_seen_at", "last_seen_at"])
    _audit(group=target, user=user, action=AuditAction.UNMERGE, from_value=f"#{target.pk}",
           to_value=f"#{source.pk} {source.title}", merge_event_id=event.pk, source_id=source.pk)  # fmt: skip
    _audit(group=source, user=user, action=AuditAction.UNMERGE, from_value=f"#{target.pk}",
           to_value=f"#{source.pk}", merge_event_id=event.pk, target_id=target.pk)  # fmt: skip
    return source


def assignable_users():
    """People who may own a crash group: those with the triage permission (support and admin roles)."""
    return (
        User.objects.filter(is_active=True, groups__permissions__codename="triage_crashgroup")
        .distinct()
        .order_by("username")
    )
