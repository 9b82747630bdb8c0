"""Crash grouping: fingerprints from normalized in-app frames (with fallbacks), counters, regressions."""

import pytest

from telemetry.ingest.crashes import crash_identity, message_template, version_newer
from telemetry.models import CrashGroup, CrashGroupStatus, CrashReport
from tests.telemetry.ingest_factories import batch, crash, post


def _identity(frames=(), message="", exception_type="", signal="SIGSEGV", kind="native"):
    return crash_identity(kind=kind, signal=signal, exception_type=exception_type, message=message, frames=list(frames))


def _frame(function, module="libacme.so", offset="0x10", in_app=True):
    return {"function": function, "module": module, "offset": offset, "in_app": in_app}


def test_addresses_offsets_and_line_numbers_do_not_split_a_group():
    a = _identity([_frame("Detector::run(int) + 0x1a4", offset="0x4410"), _frame("main.cpp:120", in_app=True)])
    b = _identity([_frame("Detector::run(int) + 0x2b8", offset="0x9999"), _frame("main.cpp:348", in_app=True)])
    assert a.fingerprint == b.fingerprint


def test_module_versions_and_paths_do_not_split_a_group():
    a = _identity([_frame("run", module="/data/app/com.acme-1/lib/arm64/libacme.so.1.2")])
    b = _identity([_frame("run", module="/data/app/com.acme-2/lib/arm64/libacme.so.1.3")])
    assert a.fingerprint == b.fingerprint


def test_different_in_app_frames_are_different_groups():
    assert _identity([_frame("Detector::run")]).fingerprint != _identity([_frame("Segmenter::run")]).fingerprint


def test_system_frames_below_the_in_app_ones_do_not_matter():
    a = _identity([_frame("libc_abort", in_app=False), _frame("Detector::run")])
    b = _identity([_frame("pthread_kill", in_app=False), _frame("Detector::run")])
    assert a.fingerprint == b.fingerprint and a.title == "SIGSEGV: Detector::run"


def test_only_the_top_five_in_app_frames_count():
    top = [_frame(f"f{i}") for i in "abcde"]
    assert _identity(top + [_frame("x")]).fingerprint == _identity(top + [_frame("y")]).fingerprint


def test_without_in_app_frames_exception_type_and_module_group():
    a = _identity([_frame("x", in_app=False)], message="index 3 out of 7", exception_type="IndexError")
    b = _identity([_frame("y", in_app=False)], message="index 9 out of 2", exception_type="IndexError")
    c = _identity([_frame("y", in_app=False)], message="index 9 out of 2", exception_type="KeyError")
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_without_frames_or_exception_the_message_template_groups():
    a = _identity(message="OOM at 0x7f00aa allocating 1048576 bytes for /data/user/0/com.acme/cache/t1.bin")
    b = _identity(message="OOM at 0x7f11bb allocating 2097152 bytes for /data/user/0/com.acme/cache/t9.bin")
    c = _identity(message="GPU context lost")
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_message_template_replaces_variable_parts():
    text = "tensor 3 of 5e0f3a9c-1234-4abc-8def-001122334455 at 0xdeadbeef in /sdcard/models/m.tflite"
    assert message_template(text) == "tensor <n> of <uuid> at <hex> in <path>"


@pytest.mark.parametrize(
    ("candidate", "than", "newer"),
    [("3.10.0", "3.9.2", True), ("3.9.2", "3.10.0", False), ("3.2.1", "3.2.1", False), ("4.0.0rc1", "3.9", True),
     ("2024.11-build7", "2024.11-build12", False), ("2024.11-build13", "2024.11-build12", True)],
)  # fmt: skip
def test_versions_compare_as_versions_not_strings(candidate, than, newer):
    assert version_newer(candidate, than) is newer


@pytest.mark.django_db
def test_one_group_per_fingerprint_with_exact_counters(client, raw_key):
    post(client, raw_key, batch([crash(), crash()], uid="dev-a"))
    post(client, raw_key, batch([crash()], uid="dev-a"))
    post(client, raw_key, batch([crash()], uid="dev-b"))
    group = CrashGroup.objects.get()
    assert (group.event_count, group.device_count) == (4, 2)
    assert group.first_seen_at == min(CrashReport.objects.values_list("occurred_at", flat=True))
    assert group.last_seen_at == max(CrashReport.objects.values_list("occurred_at", flat=True))
    assert CrashReport.objects.filter(group=group).count() == 4


@pytest.mark.django_db
def test_resent_crashes_do_not_inflate_counters(client, raw_key):
    payload = batch([crash(), crash()])
    post(client, raw_key, payload)
    post(client, raw_key, payload)
    group = CrashGroup.objects.get()
    assert (group.event_count, group.device_count) == (2, 1)


def _resolved_group(client, raw_key, *, resolved_in_version: str) -> CrashGroup:
    post(client, raw_key, batch([crash()], app_version="3.2.1"))
    group = CrashGroup.objects.get()
    group.status, group.resolved_in_version = CrashGroupStatus.RESOLVED, resolved_in_version
    group.save()
    return group


@pytest.mark.django_db
def test_crash_from_a_newer_version_than_the_fix_regresses_the_group(client, raw_key):
    group = _resolved_group(client, raw_key, resolved_in_version="3.3.0")
    post(client, raw_key, batch([crash()], app_version="3.10.0"))
    group.refresh_from_db()
    assert group.status == CrashGroupStatus.REGRESSED and group.event_count == 2


@pytest.mark.django_db
def test_crash_from_an_older_version_than_the_fix_does_not_regress(client, raw_key):
    group = _resolved_group(client, raw_key, resolved_in_version="3.3.0")
    post(client, raw_key, batch([crash()], app_version="3.2.9"))
    group.refresh_from_db()
    assert group.status == CrashGroupStatus.RESOLVED and group.event_count == 2


@pytest.mark.django_db
def test_resend_of_an_old_crash_does_not_regress_a_resolved_group(client, raw_key):
    payload = batch([crash()], app_version="3.4.0")
    post(client, raw_key, payload)
    group = CrashGroup.objects.get()
    group.status, group.resolved_in_version = CrashGroupStatus.RESOLVED, "3.3.0"
    group.save()
    post(client, raw_key, payload)
    group.refresh_from_db()
    assert group.status == CrashGroupStatus.RESOLVED


@pytest.mark.django_db
def test_crashes_of_a_merged_away_fingerprint_keep_landing_in_the_surviving_group(client, raw_key, support_user):
    from telemetry.support.triage import crash_group_merge

    detector, segmenter, tracker = ([_frame(name)] for name in ("Detector::run", "Segmenter::run", "Tracker::run"))
    post(client, raw_key, batch([crash(frames=detector), crash(frames=segmenter), crash(frames=tracker)], uid="a"))
    by_title = {group.title: group for group in CrashGroup.objects.all()}
    target, source, last = (by_title[f"SIGSEGV: {name}::run"] for name in ("Detector", "Segmenter", "Tracker"))
    crash_group_merge(target_id=target.pk, source_id=source.pk, user=support_user)

    # One batch with both the target's and the merged-away fingerprint: one group, counted once per crash.
    response = post(client, raw_key, batch([crash(frames=segmenter), crash(frames=detector)], uid="b"))
    assert response.json()["accepted"] == 2
    assert CrashGroup.objects.count() == 2  # the merged-away fingerprint did not make a new group
    target.refresh_from_db()
    assert (target.event_count, target.device_count) == (4, 2)
    assert set(CrashReport.objects.filter(group=target).values_list("fingerprint", flat=True)) == {target.fingerprint}

    # Merging the survivor away too: both old fingerprints now land in the last survivor.
    crash_group_merge(target_id=last.pk, source_id=target.pk, user=support_user)
    post(client, raw_key, batch([crash(frames=segmenter), crash(frames=detector)], uid="c"))
    last.refresh_from_db()
    assert CrashGroup.objects.get() == last
    assert (last.event_count, last.device_count) == (7, 3)
    assert CrashReport.objects.filter(group=last).count() == 7
