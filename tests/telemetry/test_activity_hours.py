"""Devices active per hour (DeviceActivityHour, DeviceLackingHour): a range's partial-day edges count their distinct
devices from these, kept by the hourly rollup, instead of the edges' raw sessions; migration 0025 fills them from
the raw sessions kept; retention prunes them with the raw rows."""

import importlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.db.models import Q

from telemetry.kpi.coverage import lacking_devices, observability_devices
from telemetry.kpi.reads import grouped_devices
from telemetry.models import DeviceActivityHour, DeviceLackingHour, InferenceSession
from telemetry.models.rollups import COHORT_FIELDS
from telemetry.rollups.compute import rollup_hours_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c(db):
    return catalog_make()


def plant(c, start: datetime) -> None:
    """Sessions over two partial days around a midnight: devices in several hours and cohorts, some lacking a field."""
    devices = [device_make(c) for _ in range(6)]
    for number, device in enumerate(devices):
        for hours in range(0, 30, 3 + number):
            session_make(c, device=device, at=start + timedelta(hours=hours, minutes=7), samples=[10.0, 12.0],
                         delegate=c.cpu if number % 2 else c.gpu,
                         rss=None if number == 4 and hours > 20 else 200.0)  # fmt: skip


def raw_devices(start: datetime, end: datetime, **where) -> int:
    return (
        InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end, **where)
        .values("device_id")
        .distinct()
        .count()
    )


def test_edges_count_hour_rows_as_the_rollup_saw_them_not_the_raw_sessions(c):
    start = datetime(2026, 11, 20, 6, tzinfo=UTC)  # 06:00 to next day 12:00: two partial-day edges
    plant(c, start)
    rollup_hours_compute(hours=[start + timedelta(hours=h) for h in range(31)], push_evidence=False)
    end = start + timedelta(hours=30)
    ranges = [
        (start, end),
        (start + timedelta(hours=5), start + timedelta(hours=20)),
        (start, start + timedelta(hours=2)),
    ]
    expected = [(raw_devices(a, b), raw_devices(a, b, delegate=c.gpu)) for a, b in ranges]
    lacking = [raw_devices(a, b, peak_rss_mb__isnull=True) for a, b in ranges]
    assert expected[0][0] == 6 and lacking[0] == 1

    InferenceSession.objects.all().delete()  # the edges no longer need them

    for (a, b), (every, gpu), lacking_count in zip(ranges, expected, lacking, strict=True):
        assert grouped_devices(start=a, end=b, q=Q(), fields=()) == {(): every}
        assert grouped_devices(start=a, end=b, q=Q(delegate=c.gpu), fields=()) == {(): gpu}
        assert lacking_devices(start=a, end=b) == lacking_count
        assert observability_devices(start=a, end=b) == (every, every - lacking_count)


def test_the_migration_fills_the_hour_rows_from_the_raw_sessions(c):
    start = datetime(2026, 11, 21, 22, tzinfo=UTC)
    plant(c, start)  # no rollup: the rows come from the migration's backfill alone
    assert not DeviceActivityHour.objects.exists()
    migration = importlib.import_module("telemetry.migrations.0025_activity_hours")

    # What backfill uses of a schema editor (SQLite's refuses to open inside the test's transaction).
    editor = SimpleNamespace(connection=connection, execute=lambda sql: connection.cursor().execute(sql))
    migration.backfill(None, editor)
    migration.backfill(None, editor)  # a re-run adds nothing

    def hour(at: datetime) -> datetime:
        return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)

    sessions = InferenceSession.objects.values_list("started_at", "device_id", *COHORT_FIELDS, "peak_rss_mb")
    expected = {(hour(at), device_id, *cohort) for at, device_id, *cohort, _ in sessions}
    stored = {
        (hour(at), *rest) for at, *rest in DeviceActivityHour.objects.values_list("hour", "device_id", *COHORT_FIELDS)
    }
    assert stored == expected
    assert set(DeviceLackingHour.objects.values_list("hour", "device_id")) == {
        (hour(at), device_id) for at, device_id, *_, rss in sessions if rss is None
    }
