"""The release KPIs' rolled-up counts (kpi.coverage) against a brute-force count over the raw sessions: sessions
reporting fallback ops per month and devices active / lacking a KPI field, for ingested and directly loaded
sessions, whole days and partial-day edges, late data re-rolled, and ranges whose raw rows retention removed."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.kpi import coverage
from telemetry.kpi.buckets import day_floor, hour_floor
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.retention import raw_retention_enforce
from tests.telemetry.fleet_factories import device_make
from tests.telemetry.ingest_factories import batch, now, post, session
from tests.telemetry.rollup_factories import session_make

pytestmark = pytest.mark.django_db
OLD = datetime(2026, 9, 29, tzinfo=UTC)  # months before any test run: a month boundary, then past retention


def _lacks(s: InferenceSession) -> bool:
    counts = (s.latency_histogram or {}).get("counts")
    return s.model_version_id is None or not counts or s.accelerated_fraction is None or s.peak_rss_mb is None


def brute_force(start: datetime, end: datetime) -> tuple[dict, tuple[int, int]]:
    """Per month (fallback sessions, sessions) and (active, covered devices), from every raw row in [start, end)."""
    months: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    active, lacking = set(), set()
    for s in InferenceSession.objects.all():
        if not start <= s.started_at < end:
            continue
        month = months[s.started_at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)]
        month[0] += bool(s.fallback_ops)
        month[1] += 1
        active.add(s.device_id)
        if _lacks(s):
            lacking.add(s.device_id)
    return {m: tuple(v) for m, v in sorted(months.items())}, (len(active), len(active) - len(lacking))


def rolled_up(start: datetime, end: datetime) -> tuple[dict, tuple[int, int]]:
    return (
        coverage.fallback_sessions_by_month(start=start, end=end),
        coverage.observability_devices(start=start, end=end),
    )


def _roll_up_everything() -> None:
    rollup_hours_compute(hours=set(InferenceSession.objects.values_list("started_at", flat=True)), push_evidence=False)


@pytest.fixture
def old_fleet(catalog, settings):
    """Directly loaded sessions (read raw by the rollup) over four days across a month boundary."""
    settings.RAW_RETENTION_DAYS = 100_000
    devices = [device_make(catalog) for _ in range(5)]
    for day in range(4):
        for i, device in enumerate(devices):
            at = OLD + timedelta(days=day, hours=3 + 5 * i, minutes=7)
            s = session_make(catalog, device=device, at=at, samples=[10.0, 12.0],
                             rss=None if (day, i) == (1, 2) else 200.0,
                             accelerated=None if (day, i) == (3, 4) else 0.9)  # fmt: skip
            if (day + i) % 3 == 0:
                InferenceSession.objects.filter(pk=s.pk).update(fallback_ops=["RESIZE_BILINEAR"])
    # a session with no latency buckets, on a device otherwise complete
    empty = session_make(catalog, device=devices[0], at=OLD + timedelta(days=2, hours=1), samples=[1.0])
    InferenceSession.objects.filter(pk=empty.pk).update(latency_histogram={"gamma": 1.02, "counts": {}})
    _roll_up_everything()
    return devices


@pytest.mark.parametrize(
    "span",
    [
        (OLD, OLD + timedelta(days=4)),  # whole days
        (OLD + timedelta(hours=5), OLD + timedelta(days=3, hours=17)),  # partial-day edges (raw devices, fleet hours)
        (OLD + timedelta(days=1, hours=2), OLD + timedelta(days=1, hours=20)),  # inside one day
    ],
)
def test_rolled_up_counts_equal_the_raw_sessions(old_fleet, span):
    start, end = span
    expected = brute_force(start, end)
    assert expected[1][0] > expected[1][1] > 0 and len(expected[0]) >= 1
    assert rolled_up(start, end) == expected


def test_a_range_across_a_month_boundary_splits_the_months(old_fleet):
    months, _ = rolled_up(OLD, OLD + timedelta(days=4))
    assert [m.month for m in months] == [9, 10]


def test_counts_survive_raw_retention(old_fleet, settings):
    start, end = OLD, OLD + timedelta(days=4)
    before = brute_force(start, end)
    settings.RAW_RETENTION_DAYS = 30
    assert raw_retention_enforce()["sessions"] == 21
    _roll_up_everything()  # hours past retention are not recomputed: their rollups stay
    assert not InferenceSession.objects.filter(started_at__lt=end).exists()
    assert rolled_up(start, end) == before


def test_ingested_sessions_and_late_data_re_rolled(client, raw_key, catalog, settings):
    settings.RAW_RETENTION_DAYS = 30
    today = day_floor(now())
    hour = hour_floor(now() - timedelta(hours=26))
    events = [session(at=hour + timedelta(minutes=m), fallback_ops=[] if m % 20 else ["RESIZE_BILINEAR"])
              for m in (1, 20, 30, 40)]  # fmt: skip
    post(client, raw_key, batch(events))
    post(client, raw_key, batch([session(at=hour + timedelta(minutes=5), peak_rss_mb=None)], uid="pixel8-7"))
    post(client, raw_key, batch([session(at=now() - timedelta(minutes=30), fallback_ops=[])], uid="pixel8-8"))
    session_make(catalog, device=device_make(catalog), at=hour + timedelta(minutes=9), samples=[3.0], accelerated=None)
    _roll_up_everything()
    ranges = [(today - timedelta(days=2), now()), (hour - timedelta(hours=3), now()), (hour, hour + timedelta(hours=1))]
    for start, end in ranges:
        assert rolled_up(start, end) == brute_force(start, end)

    # Late data for an hour already rolled up: a new device lacking accelerated fraction, a fallback session.
    post(client, raw_key, batch([session(at=hour + timedelta(minutes=50), accelerated_fraction=None)], uid="late-1"))
    stale = rolled_up(*ranges[1])
    assert stale != brute_force(*ranges[1])  # as of the last rollup run
    rollup_hours_compute(hours=[hour], push_evidence=False)
    for start, end in ranges:
        assert rolled_up(start, end) == brute_force(start, end)
    assert brute_force(*ranges[2])[1] == (4, 1)
