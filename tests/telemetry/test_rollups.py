"""Rollups: counts equal raw counts, percentiles within 1 %, idempotent, late events, daily = Σ hourly, retention."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db.models import Count, Sum
from django.test import override_settings

from compat.models import CompatEvidence
from telemetry.kpi.buckets import hour_floor, hour_floors, hours_between, range_split
from telemetry.kpi.selectors import kpis_get
from telemetry.models import (
    CrashReport,
    DailyRollup,
    DeviceActivityDay,
    HourlyRollup,
    InferenceSession,
    RollupDirtyHour,
)
from telemetry.rollups.compute import rollup_hours_close, rollup_hours_compute, rollup_range_compute
from telemetry.rollups.retention import raw_retention_enforce
from telemetry.tasks import rollup_hours_enqueue
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import crash_make, exact_quantile, fleet_make, session_make

START = datetime(2026, 11, 10, 20, 0, tzinfo=UTC)  # 4 hours before a day boundary
pytestmark = pytest.mark.usefixtures("retention_unbounded")  # the dates above are fixed


def test_hour_floors_equal_hour_floor_of_each_moment_in_any_offset():
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3, minutes=-45))]
    moments = [
        (START + timedelta(minutes=minutes, microseconds=micro)).astimezone(zone)
        for minutes in range(-125, 125, 5)
        for micro in (-1, 0, 1)
        for zone in zones
    ]
    floors = hour_floors(moments)
    assert floors == {hour_floor(moment) for moment in moments}
    assert all(floor.tzinfo is UTC for floor in floors)
    naive = [moment.replace(tzinfo=None) for moment in moments[:30]]
    assert hour_floors(iter(moments[:30] + naive)) == {hour_floor(moment) for moment in moments[:30] + naive}


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def fleet(c):
    devices = [device_make(c) for _ in range(6)] + [device_make(c, device_model=c.galaxy) for _ in range(4)]
    truth = fleet_make(c, devices=devices, start=START, hours=30)
    rollup_range_compute(start=START, end=START + timedelta(hours=30))
    return truth


def _rows(model):
    return sorted(
        model.objects.values_list(
            "bucket_start", "device_model_id", "model_version_id", "app_version", "sessions", "crashed_sessions",
            "crashes", "inferences", "errors", "latency_histogram", "accelerated_weighted_sum", "accelerated_weight",
            "peak_rss_histogram", "devices",
        ),
        key=str,
    )  # fmt: skip


def test_pure_range_split_puts_partial_days_in_hourly_edges():
    start, end = datetime(2026, 11, 1, 20, tzinfo=UTC), datetime(2026, 11, 4, 3, tzinfo=UTC)
    edges, days = range_split(start, end)
    assert edges == [(start, datetime(2026, 11, 2, tzinfo=UTC)), (datetime(2026, 11, 4, tzinfo=UTC), end)]
    assert days == (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
    assert range_split(start, start + timedelta(hours=3))[0] == [(start, start + timedelta(hours=3))]
    assert len(hours_between(start, end)) == 55


@pytest.mark.parametrize(
    "offset_h, length_h",
    [(0, 1), (0, 4), (2, 5), (3, 2), (4, 24), (0, 30), (1, 28), (5, 3)],
    ids=["one-hour", "to-midnight", "across-midnight", "edge-hours", "whole-day", "all", "day-plus-edges", "next-day"],
)
def test_kpi_counts_equal_raw_counts_for_ranges_crossing_hour_and_day_boundaries(c, fleet, offset_h, length_h):
    start = START + timedelta(hours=offset_h)
    end = start + timedelta(hours=length_h)
    raw = InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end)
    expected = raw.aggregate(n=Count("id"), inf=Sum("inferences"), err=Sum("errors"))
    kpis = kpis_get(start=start, end=end, filters={})
    assert kpis.sessions == expected["n"]
    assert kpis.inferences == (expected["inf"] or 0)
    assert kpis.errors == (expected["err"] or 0)
    assert kpis.crashed_sessions == raw.filter(has_crash=True).count()
    assert kpis.devices == raw.values("device_id").distinct().count()
    weighted = [(s.accelerated_fraction, s.inferences) for s in raw if s.accelerated_fraction is not None]
    assert kpis.accelerator_utilization == pytest.approx(sum(f * n for f, n in weighted) / sum(n for _, n in weighted))


def test_percentiles_are_within_one_percent_of_exact_values_over_raw_samples(fleet):
    kpis = kpis_get(start=START, end=START + timedelta(hours=30), filters={})
    for q, got in ((0.5, kpis.p50_latency_ms), (0.95, kpis.p95_latency_ms), (0.99, kpis.p99_latency_ms)):
        exact = exact_quantile(fleet.samples, q)
        assert abs(got - exact) <= 0.01 * exact, (q, got, exact)
    for q, got in ((0.5, kpis.peak_rss_mb_p50), (0.95, kpis.peak_rss_mb_p95)):
        exact = exact_quantile(fleet.rss, q)
        assert abs(got - exact) <= 0.01 * exact, (q, got, exact)


def test_filters_restrict_to_the_cohort(c, fleet):
    kpis = kpis_get(start=START, end=START + timedelta(hours=30), filters={"device_model": "samsung-galaxy-a54"})
    assert kpis.sessions == InferenceSession.objects.filter(device_model=c.galaxy).count()
    assert kpis_get(start=START, end=START + timedelta(hours=30), filters={"tier": 3}).sessions == 0


def test_recomputing_hours_twice_gives_identical_rows(fleet):
    hourly, daily = _rows(HourlyRollup), _rows(DailyRollup)
    rollup_range_compute(start=START, end=START + timedelta(hours=30))
    assert _rows(HourlyRollup) == hourly
    assert _rows(DailyRollup) == daily
    assert HourlyRollup.objects.aggregate(n=Sum("sessions"))["n"] == InferenceSession.objects.count()


def test_daily_rows_are_the_sum_of_hourly_rows(fleet):
    day = datetime(2026, 11, 11, tzinfo=UTC)
    for field in ("sessions", "crashed_sessions", "inferences", "errors", "accelerated_weight"):
        hourly = HourlyRollup.objects.filter(bucket_start__gte=day, bucket_start__lt=day + timedelta(days=1))
        assert (
            DailyRollup.objects.filter(bucket_start=day).aggregate(n=Sum(field))["n"]
            == hourly.aggregate(n=Sum(field))["n"]
        )


def test_daily_devices_are_distinct_over_the_day_not_a_sum_of_hours(c):
    device = device_make(c)
    day = datetime(2026, 11, 12, tzinfo=UTC)
    for hour in range(3):
        session_make(c, device=device, at=day + timedelta(hours=hour), samples=[10.0])
    rollup_range_compute(start=day, end=day + timedelta(days=1))
    assert HourlyRollup.objects.aggregate(n=Sum("devices"))["n"] == 3
    assert DailyRollup.objects.get().devices == 1
    assert kpis_get(start=day, end=day + timedelta(days=1), filters={}).devices == 1
    assert DeviceActivityDay.objects.count() == 1


def test_late_event_reopens_its_hour(c, fleet, django_capture_on_commit_callbacks):
    hour = START + timedelta(hours=2)
    before = kpis_get(start=hour, end=hour + timedelta(hours=1), filters={}).sessions
    with django_capture_on_commit_callbacks(execute=True):
        session_make(c, device=device_make(c), at=hour + timedelta(minutes=59), samples=[5.0, 6.0])
        rollup_hours_enqueue(hours={hour + timedelta(minutes=59)})
    assert kpis_get(start=hour, end=hour + timedelta(hours=1), filters={}).sessions == before + 1
    day = datetime(2026, 11, 10, tzinfo=UTC)
    assert (
        kpis_get(start=day, end=day + timedelta(days=1), filters={}).sessions
        == InferenceSession.objects.filter(started_at__gte=day, started_at__lt=day + timedelta(days=1)).count()
    )
    assert not RollupDirtyHour.objects.exists()


def test_a_crash_arriving_later_counts_its_session_as_crashed(c, fleet):
    hour = START + timedelta(hours=1)
    session = InferenceSession.objects.filter(started_at__gte=hour, has_crash=False).order_by("started_at").first()
    hour = session.started_at.replace(minute=0, second=0)
    before = kpis_get(start=hour, end=hour + timedelta(hours=1), filters={})
    crash_make(c, session=session)
    rollup_hours_compute(hours=[hour])
    after = kpis_get(start=hour, end=hour + timedelta(hours=1), filters={})
    assert after.crashed_sessions == before.crashed_sessions + 1
    assert HourlyRollup.objects.filter(bucket_start=hour).aggregate(n=Sum("crashes"))["n"] == (
        CrashReport.objects.filter(occurred_at__gte=hour, occurred_at__lt=hour + timedelta(hours=1)).count()
    )


def test_periodic_close_sweeps_dirty_hours(c):
    at = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    session_make(c, device=device_make(c), at=at, samples=[7.0])
    RollupDirtyHour.objects.create(hour=at.replace(minute=0))
    rollup_hours_close()
    assert HourlyRollup.objects.get().sessions == 1
    assert not RollupDirtyHour.objects.exists()


@override_settings(RAW_RETENTION_DAYS=30)
def test_retention_deletes_only_old_raw_rows_and_keeps_rollups(c):
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    device = device_make(c)
    old = session_make(c, device=device, at=now - timedelta(days=31), samples=[10.0])
    crash_make(c, session=old)
    kept = session_make(c, device=device, at=now - timedelta(days=29), samples=[10.0])
    with override_settings(RAW_RETENTION_DAYS=36_500):  # rolled up while the old hour was still within retention
        rollup_hours_compute(hours=[old.started_at, kept.started_at], push_evidence=False)
    deleted = raw_retention_enforce(now=now, chunk_size=1)
    assert deleted == {
        "crashes": 1,
        "sessions": 1,
        "session_partials": 0,
        "fallback_partials": 0,
        "activity_hours": 1,
        "event_keys": 0,
    }
    assert list(InferenceSession.objects.values_list("id", flat=True)) == [kept.id]
    assert HourlyRollup.objects.aggregate(n=Sum("sessions"))["n"] == 2
    assert kpis_get(start=old.started_at - timedelta(days=1), end=now, filters={}).sessions == 2


@override_settings(RAW_RETENTION_DAYS=30)
def test_recomputing_an_hour_older_than_retention_keeps_its_rollup(c):
    from django.utils import timezone

    old = session_make(c, device=device_make(c), at=timezone.now() - timedelta(days=40), samples=[10.0])
    with override_settings(RAW_RETENTION_DAYS=60):
        rollup_hours_compute(hours=[old.started_at], push_evidence=False)
    raw_retention_enforce()
    rollup_hours_compute(hours=[old.started_at], push_evidence=False)
    assert HourlyRollup.objects.get().sessions == 1


def test_rollup_pushes_field_evidence_for_touched_cells(c):
    from django.utils import timezone

    at = timezone.now() - timedelta(hours=3)
    device = device_make(c)
    for _ in range(3):
        session_make(c, device=device, at=at, samples=[20.0, 30.0, 40.0], accelerated=0.5)
    result = rollup_hours_compute(hours=[at])
    assert result.evidence_items == 1
    evidence = CompatEvidence.objects.get(source="field", source_ref="field:7d")
    assert evidence.sample_size == 3
    assert evidence.accelerated_fraction == pytest.approx(0.5)
    assert evidence.entry.device_model_id == c.pixel.id and evidence.entry.delegate_id == c.gpu.id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_recomputes_of_one_hour_neither_collide_nor_double_count():
    import threading

    from django.db import connection

    c = catalog_make()
    fleet_make(c, devices=[device_make(c) for _ in range(8)], start=START, hours=2)
    errors = []

    def recompute():
        try:
            rollup_hours_compute(hours=[START, START + timedelta(hours=1)], push_evidence=False)
        except Exception as exc:  # noqa: BLE001 -- collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=recompute) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert HourlyRollup.objects.aggregate(n=Sum("sessions"))["n"] == InferenceSession.objects.count()


def test_only_the_batch_that_dirties_a_clean_hour_queues_a_rollup(c):
    from telemetry.ingest.dirty_hours import rollup_hours_mark_dirty

    hour = datetime(2026, 11, 3, 4, tzinfo=UTC)
    assert rollup_hours_mark_dirty(hours=[hour + timedelta(minutes=5)]) == {hour}
    assert rollup_hours_mark_dirty(hours=[hour + timedelta(minutes=50), hour + timedelta(hours=1)]) == {
        hour + timedelta(hours=1)
    }
    assert RollupDirtyHour.objects.count() == 2


def test_queued_rollup_skips_an_hour_another_task_already_rolled_up(c):
    at = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    session_make(c, device=device_make(c), at=at, samples=[7.0])
    result = rollup_hours_compute(hours=[at], push_evidence=False, only_dirty=True)  # never marked: nothing to claim
    assert result.hours == []
    assert not HourlyRollup.objects.exists()
    RollupDirtyHour.objects.create(hour=at.replace(minute=0))
    result = rollup_hours_compute(hours=[at], push_evidence=False, only_dirty=True)
    assert result.hours == [at.replace(minute=0)]
    assert HourlyRollup.objects.get().sessions == 1
    assert not RollupDirtyHour.objects.exists()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_hour_re_marked_during_its_rollup_is_queued_again_after_the_delay(tmp_path, monkeypatch, settings):
    """A batch re-marks the hour while its rollup runs: the rollup keeps the mark and queues the hour once more,
    ROLLUP_REQUEUE_DELAY_S later (a busy hour is not recomputed back to back)."""
    import json
    import threading
    import time

    import redis
    from django.db import connection

    from edgeportal.celery import app
    from telemetry.ingest.dirty_hours import rollup_hours_mark_dirty
    from telemetry.rollups.hourly import PAUSE_FILE_ENV
    from telemetry.tasks import rollup_hours_task

    c = catalog_make()
    at = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    session_make(c, device=device_make(c), at=at, samples=[7.0])
    rollup_hours_mark_dirty(hours=[at])
    pause = tmp_path / "pause"
    pause.touch()
    monkeypatch.setenv(PAUSE_FILE_ENV, str(pause))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker.delete(queue)
    app.conf.task_always_eager = False  # the re-queued task goes to Redis, where its ETA can be read
    results = []

    def run_rollup() -> None:
        try:  # the task: it runs the rollup, then queues the hours a batch re-marked meanwhile
            results.append(rollup_hours_task(hours=[at.isoformat()], only_dirty=True))
        finally:
            connection.close()  # this thread's connection, or the test database cannot be dropped

    rollup = threading.Thread(target=run_rollup)
    rollup.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "pause.started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    rollup_hours_mark_dirty(hours=[at])  # a batch lands meanwhile
    pause.unlink()
    rollup.join(timeout=30)
    queued_at = time.time()

    assert results == [1]  # the hour was rolled up
    assert RollupDirtyHour.objects.filter(hour=at.replace(minute=0)).exists()  # the newer mark stays
    messages = [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]
    broker.delete(queue)
    assert len(messages) == 1
    headers = messages[0]["headers"]
    assert headers["task"] == "telemetry.tasks.rollup_hours_task"
    eta = datetime.fromisoformat(headers["eta"]).timestamp()
    assert settings.ROLLUP_REQUEUE_DELAY_S - 2 <= eta - queued_at <= settings.ROLLUP_REQUEUE_DELAY_S + 1
