import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compat.models import CompatEntry, CompatStatus, CompatStatusChange
from compat.services import compat_entry_notes_update, compat_entry_override, compat_entry_override_clear

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(catalog, push):
    return push(
        model_version=catalog.mnv3_int8,
        runtime_version=catalog.tflite_216,
        delegate=catalog.gpu,
        device_model=catalog.pixel,
        p95_latency_ms=80.0,
    )


def test_override_sits_next_to_the_derived_status_and_is_recorded(entry, support_user):
    compat_entry_override(entry=entry, status="supported", reason="Vendor fix in OTA 14.2", user=support_user)
    entry.refresh_from_db()
    assert (entry.derived_status, entry.override_status, entry.status) == ("degraded", "supported", "supported")
    assert entry.override_by == support_user
    change = CompatStatusChange.objects.filter(kind="override").get()
    assert (change.from_status, change.to_status, change.actor, change.reason) == (
        "degraded",
        "supported",
        "support-sam",
        "Vendor fix in OTA 14.2",
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_override_without_a_reason_is_refused_and_nothing_changes(entry, support_user, reason):
    with pytest.raises(ValidationError):
        compat_entry_override(entry=entry, status="supported", reason=reason, user=support_user)
    entry.refresh_from_db()
    assert entry.override_status == "" and not CompatStatusChange.objects.filter(kind="override").exists()


def test_override_with_unknown_status_is_refused(entry, support_user):
    with pytest.raises(ValidationError):
        compat_entry_override(entry=entry, status="great", reason="x", user=support_user)


def test_viewer_cannot_override(entry, viewer_user):
    with pytest.raises(PermissionDenied):
        compat_entry_override(entry=entry, status="supported", reason="x", user=viewer_user)
    assert CompatEntry.objects.get().override_status == ""


def test_clearing_restores_the_derived_status_and_is_recorded(entry, support_user):
    compat_entry_override(entry=entry, status="unsupported", reason="Field crash spike", user=support_user)
    compat_entry_override_clear(entry=entry, user=support_user, reason="Fixed")
    entry.refresh_from_db()
    assert entry.override_status == "" and entry.status == CompatStatus.DEGRADED and entry.override_by is None
    change = CompatStatusChange.objects.filter(kind="override_cleared").get()
    assert (change.from_status, change.to_status, change.reason) == ("unsupported", "degraded", "Fixed")


def test_clearing_without_an_override_writes_no_history(entry, support_user):
    compat_entry_override_clear(entry=entry, user=support_user)
    assert not CompatStatusChange.objects.exclude(kind="derived").exists()


def test_new_evidence_keeps_the_override_but_updates_the_derived_status(entry, support_user, catalog, push):
    compat_entry_override(entry=entry, status="unsupported", reason="Known driver bug", user=support_user)
    push(
        model_version=catalog.mnv3_int8,
        runtime_version=catalog.tflite_216,
        delegate=catalog.gpu,
        device_model=catalog.pixel,
        p95_latency_ms=20.0,
    )
    entry.refresh_from_db()
    assert (entry.derived_status, entry.status) == ("supported", "unsupported")


def test_support_edits_known_issues_viewer_cannot(entry, support_user, viewer_user):
    compat_entry_notes_update(entry=entry, known_issues="  GPU delegate hangs on Android 13  ", user=support_user)
    assert CompatEntry.objects.get().known_issues == "GPU delegate hangs on Android 13"
    with pytest.raises(PermissionDenied):
        compat_entry_notes_update(entry=entry, known_issues="", user=viewer_user)
