import pytest
from django.core.exceptions import ValidationError

from telemetry.models import CrashGroup, CrashGroupAuditEvent, CrashGroupDevice, CrashReport
from telemetry.support import triage

from .fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def test_acknowledge_moves_new_to_triaged_and_audits_who(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    triage.crash_group_acknowledge(group_id=group.pk, user=support_user)
    group.refresh_from_db()
    assert group.status == "triaged"
    event = CrashGroupAuditEvent.objects.get(crash_group=group)
    assert (event.action, event.from_value, event.to_value, event.actor_name) == (
        "acknowledge",
        "new",
        "triaged",
        "support-sam",
    )


def test_resolve_records_the_fixed_in_version(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    triage.crash_group_resolve(group_id=group.pk, user=support_user, resolved_in_version="3.2.2")
    group.refresh_from_db()
    assert (group.status, group.resolved_in_version) == ("resolved", "3.2.2")
    assert CrashGroupAuditEvent.objects.get(crash_group=group).detail["resolved_in_version"] == "3.2.2"


def test_reopening_a_resolved_group_clears_its_fixed_in_version(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)], status="resolved", resolved_in_version="3.2.2")
    triage.crash_group_status_set(group_id=group.pk, user=support_user, status="triaged")
    group.refresh_from_db()
    assert (group.status, group.resolved_in_version) == ("triaged", "")


def test_setting_the_same_status_twice_writes_one_audit_row(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    triage.crash_group_ignore(group_id=group.pk, user=support_user)
    triage.crash_group_ignore(group_id=group.pk, user=support_user)
    assert CrashGroupAuditEvent.objects.filter(crash_group=group).count() == 1


def test_unknown_status_is_refused(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    with pytest.raises(ValidationError):
        triage.crash_group_status_set(group_id=group.pk, user=support_user, status="closed")


def test_assign_and_unassign_are_both_audited(c, support_user, admin_user_role):
    group = crash_group_make(c, devices=[device_make(c)])
    triage.crash_group_assign(group_id=group.pk, user=support_user, assignee=admin_user_role)
    triage.crash_group_assign(group_id=group.pk, user=support_user, assignee=None)
    group.refresh_from_db()
    assert group.assignee is None
    rows = list(
        CrashGroupAuditEvent.objects.filter(crash_group=group).order_by("id").values_list("from_value", "to_value")
    )
    assert rows == [("", "admin-ada"), ("admin-ada", "")]


def test_empty_note_is_refused_and_a_real_note_is_audited(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    with pytest.raises(ValidationError):
        triage.crash_group_note_add(group_id=group.pk, user=support_user, body="   ")
    note = triage.crash_group_note_add(group_id=group.pk, user=support_user, body="Known GPU driver bug on A54")
    assert note.author == support_user
    assert CrashGroupAuditEvent.objects.get(crash_group=group).action == "note"


def test_merge_moves_crashes_devices_and_notes_and_keeps_devices_exact(c, support_user):
    shared, only_source, only_target = device_make(c), device_make(c), device_make(c)
    target = crash_group_make(c, devices=[shared, only_target], crashes_per_device=2)
    source = crash_group_make(c, devices=[shared, only_source], crashes_per_device=3)
    triage.crash_group_note_add(group_id=source.pk, user=support_user, body="same bug as the other one")
    merged = triage.crash_group_merge(target_id=target.pk, source_id=source.pk, user=support_user)
    assert not CrashGroup.objects.filter(pk=source.pk).exists()
    assert merged.event_count == 4 + 6
    assert merged.device_count == 3 == CrashGroupDevice.objects.filter(group=target).count()
    assert CrashReport.objects.filter(group=target).count() == 10
    assert merged.triage_notes.count() == 1
    event = CrashGroupAuditEvent.objects.get(crash_group=target, action="merge")
    assert event.detail["source_id"] == source.pk and event.detail["moved_crashes"] == 6


def test_a_group_cannot_be_merged_into_itself(c, support_user):
    group = crash_group_make(c, devices=[device_make(c)])
    with pytest.raises(ValidationError):
        triage.crash_group_merge(target_id=group.pk, source_id=group.pk, user=support_user)
