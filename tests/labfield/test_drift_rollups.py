"""Drift read from the fallback rollups (telemetry/rollups/fallback.py): its firmware parts, fallback ops and devices
affected equal a brute-force reckoning over the raw sessions, also after late data re-rolls past hours, and no raw
session is read by the list."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labfield.drift import drift_list
from telemetry.models import DailyFallbackRollup, HourlyFallbackRollup, InferenceSession
from telemetry.rollups.fallback import fallback_hour_replace
from tests.telemetry.fleet_factories import catalog_make

from .drift_fleet import MIN_SESSIONS, PlantedDriftSession, ingest, lab_runs_create, midnight, plant

pytestmark = pytest.mark.django_db
LAB_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_BILINEAR", "TRANSPOSE_CONV"}


@pytest.fixture
def fleet(db, settings):
    settings.LAB_FIELD_DRIFT_MIN_SESSIONS = MIN_SESSIONS
    c = catalog_make()
    planted = plant(datetime.now(UTC))
    planted.c = c
    lab_runs_create(c, planted)
    ingest(planted, planted.sessions)
    return planted


def brute_force(now: datetime):
    """From the raw rows of yolov8n 1.4.0 over the last 7 UTC days: {firmware: (sessions, fraction)}, {lab op:
    sessions listing it (any case, once per session)}, devices with a session listing a lab op, sessions."""
    since = midnight(now) - timedelta(days=6)
    rows = InferenceSession.objects.filter(model_version__version="1.4.0", started_at__gte=since).values_list(
        "device_id", "device__firmware", "fallback_ops", "accelerated_fraction", "inferences"
    )
    firmware: dict[str, list] = {}
    ops: dict[str, int] = {}
    devices, total = set(), 0
    for device_id, build, fallback, fraction, inferences in rows:
        total += 1
        acc = firmware.setdefault(build, [0, 0.0, 0])
        acc[0] += 1
        if fraction is not None:
            acc[1] += fraction * inferences
            acc[2] += inferences
        named = {str(op).upper() for op in fallback} & LAB_OPS
        for op in named:
            ops[op] = ops.get(op, 0) + 1
        if named:
            devices.add(device_id)
    return {key: (n, ws / w) for key, (n, ws, w) in firmware.items()}, ops, len(devices), total


def assert_matches_raw(now: datetime) -> None:
    (drift,) = [d for d in drift_list(now=now) if d.labels.model_version == "1.4.0"]
    firmware, ops, devices, total = brute_force(now)
    assert {p.key: (p.sessions, pytest.approx(p.accelerated_fraction)) for p in drift.firmware} == firmware
    assert {op.name: op.sessions for op in drift.ops} == ops
    assert drift.raw_sessions == total
    assert drift.devices_affected == devices
    assert drift.drifting


def test_firmware_ops_and_devices_equal_the_raw_sessions(fleet):
    assert_matches_raw(fleet.now)


def test_late_sessions_re_roll_their_hours_and_days(fleet):
    """Late sessions two days back (a new device, an op in lower case, one an old device already fell back on)."""
    day = midnight(fleet.now) - timedelta(days=2)
    fleet.devices["late-1"] = ("Android 15", "3.2.1", "AP4A.250105.002")
    late = [
        PlantedDriftSession("late-1", "1.4.0", "Android 15", "3.2.1", "AP4A.250105.002", day + timedelta(hours=h),
                            30, 0.5, ["transpose_conv", "CONV_2D"])
        for h in (3, 3, 9)
    ]  # fmt: skip
    before = brute_force(fleet.now)
    ingest(fleet, late)
    after = brute_force(fleet.now)
    assert after[2] == before[2] + 1 and after[1]["CONV_2D"] == before[1].get("CONV_2D", 0) + 3
    assert_matches_raw(fleet.now)


def test_the_list_reads_no_raw_session(fleet):
    with CaptureQueriesContext(connection) as captured:
        assert any(d.drifting and d.ops for d in drift_list(now=fleet.now))
    assert not [q["sql"] for q in captured if InferenceSession._meta.db_table in q["sql"]]


def test_re_rolling_an_hour_changes_nothing_and_a_day_is_the_sum_of_its_hours(fleet):
    hour = midnight(fleet.now) - timedelta(days=1) + timedelta(hours=10)
    rows = lambda: sorted(  # noqa: E731
        HourlyFallbackRollup.objects.filter(bucket_start=hour).values_list("firmware", "op", "sessions")
    )
    first = rows()
    assert fallback_hour_replace(hour=hour) and rows() == first
    start = midnight(fleet.now) - timedelta(days=1)
    hourly = HourlyFallbackRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + timedelta(days=1))
    daily = DailyFallbackRollup.objects.filter(bucket_start=start)
    assert sum(hourly.values_list("sessions", flat=True)) == sum(daily.values_list("sessions", flat=True)) > 0


def test_an_hour_past_raw_retention_keeps_its_rows(fleet, settings):
    settings.RAW_RETENTION_DAYS = 2
    old = HourlyFallbackRollup.objects.filter(bucket_start__lt=midnight(fleet.now) - timedelta(days=3))
    hour = old.order_by("bucket_start").values_list("bucket_start", flat=True).first()
    kept = HourlyFallbackRollup.objects.filter(bucket_start=hour).count()
    assert kept
    InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + timedelta(hours=1)).delete()
    assert fallback_hour_replace(hour=hour) is False
    assert HourlyFallbackRollup.objects.filter(bucket_start=hour).count() == kept


def test_the_backfill_fills_hours_rolled_up_before_the_rollups_existed(fleet):
    from django.core.management import call_command

    expected = sorted(DailyFallbackRollup.objects.values_list("bucket_start", "firmware", "op", "sessions"))
    HourlyFallbackRollup.objects.all().delete()
    DailyFallbackRollup.objects.all().delete()
    call_command("fallback_rollups_backfill", stdout=io.StringIO())
    assert sorted(DailyFallbackRollup.objects.values_list("bucket_start", "firmware", "op", "sessions")) == expected
    call_command("fallback_rollups_backfill", stdout=io.StringIO())  # idempotent: nothing left to fill
    assert sorted(DailyFallbackRollup.objects.values_list("bucket_start", "firmware", "op", "sessions")) == expected
    assert_matches_raw(fleet.now)
