"""Crash-group rollups: exact per group and combination, kept through merges and retention, read by the group page."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from telemetry.kpi.buckets import day_floor, hour_floor
from telemetry.models import CrashReport, DailyCrashGroupRollup, HourlyCrashGroupRollup
from telemetry.models.rollups import CRASH_FIELDS
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.crash_groups import crash_group_rollups_backfill
from telemetry.support.selectors import crash_group_detail_get
from telemetry.support.triage import crash_group_merge

from .fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def _raw_counts() -> Counter:
    counts = Counter()
    for report in CrashReport.objects.values("group_id", *CRASH_FIELDS):
        counts[tuple(report.values())] += 1
    return counts


def _rollup_counts(model) -> Counter:
    counts = Counter()
    for row in model.objects.values("group_id", *CRASH_FIELDS).annotate(n=Sum("events")):
        counts[tuple(row[k] for k in ("group_id", *CRASH_FIELDS))] += row["n"]
    return counts


def _two_groups(c, *, at):
    pixel, galaxy = device_make(c), device_make(c, device_model=c.galaxy, os_version="Android 14")
    gpu = crash_group_make(c, devices=[pixel, galaxy], crashes_per_device=3, at=at)
    cpu = crash_group_make(c, devices=[galaxy], delegate=c.cpu, model_version=c.v2, at=at + timedelta(hours=1))
    return gpu, cpu


def test_hourly_and_daily_rows_equal_raw_counts_per_group_and_combination(c):
    at = day_floor(timezone.now() - timedelta(days=2)) + timedelta(hours=5)
    _two_groups(c, at=at)
    raw = _raw_counts()
    assert sum(raw.values()) == 7 and len(raw) == 3
    assert _rollup_counts(HourlyCrashGroupRollup) == raw
    assert _rollup_counts(DailyCrashGroupRollup) == raw
    assert set(HourlyCrashGroupRollup.objects.values_list("bucket_start", flat=True)) == {at, at + timedelta(hours=1)}

    rollup_hours_compute(hours=[at, at + timedelta(hours=1)], push_evidence=False)  # recomputing changes nothing
    assert HourlyCrashGroupRollup.objects.count() == 3 and _rollup_counts(DailyCrashGroupRollup) == raw


def test_a_late_crash_reopens_its_hour_and_day(c):
    at = day_floor(timezone.now() - timedelta(days=2)) + timedelta(hours=5)
    gpu, _ = _two_groups(c, at=at)
    late = CrashReport.objects.filter(group=gpu).first()
    late.pk, late.event_id = None, late.event_id.int + 1
    late.save()
    rollup_hours_compute(hours=[late.occurred_at], push_evidence=False)
    assert _rollup_counts(HourlyCrashGroupRollup) == _rollup_counts(DailyCrashGroupRollup) == _raw_counts()
    assert sum(_raw_counts().values()) == 8


def test_merge_moves_rows_so_counts_outlive_raw_retention(c):
    at = day_floor(timezone.now() - timedelta(days=3)) + timedelta(hours=5)
    gpu, cpu = _two_groups(c, at=at)
    crash_group_merge(target_id=gpu.pk, source_id=cpu.pk, user=None)
    CrashReport.objects.all().delete()  # raw rows past retention are gone; the rollups are kept
    now = timezone.now()
    detail = crash_group_detail_get(group_id=gpu.pk, start=now - timedelta(days=30), end=now)
    assert detail.events_in_range == 7 and detail.sample is None
    assert {row["label"]: row["events"] for row in detail.breakdowns["delegate"]} == {"tflite gpu": 6, "tflite cpu": 1}
    assert {row["label"]: row["share"] for row in detail.breakdowns["model_version"]} == {
        "yolov8n 1.4.0": 6 / 7,
        "yolov8n 1.5.0": 1 / 7,
    }
    assert {row["label"] for row in detail.breakdowns["os_version"]} == {"Android 15", "Android 14"}
    assert sum(n for _, n in detail.events_over_time) == 7


def test_range_edges_read_hourly_rows_and_whole_days_daily_rows(c):
    now = timezone.now()
    device = device_make(c)
    inside = crash_group_make(c, devices=[device], at=hour_floor(now) - timedelta(hours=3))
    crash_group_make(c, devices=[device], at=now - timedelta(days=5), rollup=True, title="older")
    # 24 hours: by hour, from hourly rows only.
    day = crash_group_detail_get(group_id=inside.pk, start=now - timedelta(hours=24), end=now)
    assert [(at, n) for at, n in day.events_over_time if n] == [(hour_floor(now) - timedelta(hours=3), 1)]
    assert len(day.events_over_time) in (24, 25) and day.events_over_time[-1][0] == hour_floor(now)  # zeros kept
    # A range starting mid-day five days ago: that partial day from hourly rows, the whole days from daily rows.
    week_start = now - timedelta(days=6, hours=3)
    week = crash_group_detail_get(group_id=inside.pk, start=week_start, end=now)
    assert [(at, n) for at, n in week.events_over_time if n] == [(day_floor(now - timedelta(hours=3)), 1)]
    days = (day_floor(now) - day_floor(week_start)).days
    assert [at for at, _ in week.events_over_time] == [
        day_floor(week_start) + timedelta(days=d) for d in range(days + 1)
    ]
    # Crashes outside the range are not counted.
    old = crash_group_detail_get(group_id=inside.pk, start=now - timedelta(days=20), end=now - timedelta(days=10))
    assert old.events_in_range == 0 and old.breakdowns["device_model"] == []


def test_backfill_fills_hours_rolled_up_before_the_rollups_existed(c):
    at = day_floor(timezone.now() - timedelta(days=2)) + timedelta(hours=7)
    group = crash_group_make(c, devices=[device_make(c), device_make(c)], crashes_per_device=2, at=at, rollup=False)
    assert not HourlyCrashGroupRollup.objects.exists()
    call_command("rollup_grains_backfill", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert _rollup_counts(HourlyCrashGroupRollup) == _rollup_counts(DailyCrashGroupRollup) == _raw_counts()
    assert DailyCrashGroupRollup.objects.get(group=group).events == 4
    assert crash_group_rollups_backfill() == {"crash-group hours": 0, "crash-group days": 0}  # once is enough


def test_list_filters_find_groups_by_their_rollups_after_raw_retention(client, viewer_user, c):
    at = day_floor(timezone.now() - timedelta(days=2)) + timedelta(hours=5)
    gpu, cpu = _two_groups(c, at=at)
    client.force_login(viewer_user)
    assert [g.pk for g in client.get("/crashes/?app_version=3.2.1&sort=events").context["page"]] == [gpu.pk, cpu.pk]
    CrashReport.objects.all().delete()  # past retention: the rollups still say where each group crashed
    assert [g.pk for g in client.get("/crashes/?device_model=google-pixel-8").context["page"]] == [gpu.pk]
    assert [g.pk for g in client.get("/crashes/?delegate=cpu&os_version=Android 14").context["page"]] == [cpu.pk]
    assert list(client.get("/crashes/?app_version=3.2.1").context["page"]) == []  # app versions are raw-only


def test_events_chart_spans_the_range_with_bucket_wide_bars(c):
    from telemetry.support.charts import crash_events_chart

    now = timezone.now()
    group = crash_group_make(c, devices=[device_make(c)], at=now - timedelta(days=2))
    detail = crash_group_detail_get(group_id=group.pk, start=day_floor(now) - timedelta(days=29), end=now)
    (trace,) = crash_events_chart(points=detail.events_over_time).figure["data"]
    assert len(trace["x"]) == 30 and sum(trace["y"]) == 1
    assert trace["width"] == 0.8 * 86_400_000  # a day's bar, not a sliver Plotly guesses from one point
    empty = crash_group_detail_get(group_id=group.pk, start=now - timedelta(days=60), end=now - timedelta(days=40))
    assert crash_events_chart(points=empty.events_over_time).is_empty


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_rollup_and_a_batch_holding_its_crash_group_do_not_deadlock():
    """A batch locks its crash groups (their upsert), then marks its hours dirty; a rollup of such an hour clears the
    mark last. Were the rollup's foreign keys checked at COMMIT, it would wait there for the group while the batch
    waits for the mark (seen in perf/ingest_bench.py as a 503)."""
    import threading
    import time

    from django.db import connection, transaction

    from telemetry.ingest.dirty_hours import rollup_hours_mark_dirty
    from telemetry.models import CrashGroup
    from telemetry.rollups.hourly import rollup_hour_compute

    c = catalog_make()
    at = hour_floor(timezone.now()) - timedelta(hours=2)
    group = crash_group_make(c, devices=[device_make(c)], at=at, rollup=False)
    with transaction.atomic():
        rollup_hours_mark_dirty(hours=[at])
    locked, proceed, errors = threading.Event(), threading.Event(), []

    def batch():
        try:
            with transaction.atomic():
                CrashGroup.objects.select_for_update().get(pk=group.pk)  # the lock the group upsert takes
                locked.set()
                proceed.wait(10)
                rollup_hours_mark_dirty(hours=[at])
        except Exception as error:  # noqa: BLE001 -- reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    def rollup():
        try:
            rollup_hour_compute(hour=at)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=batch), threading.Thread(target=rollup)]
    threads[0].start()
    assert locked.wait(10)
    threads[1].start()
    time.sleep(1.5)  # the rollup reaches the locked group (and, with deferred checks, would clear the mark first)
    proceed.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _rollup_counts(HourlyCrashGroupRollup) == _raw_counts()


def test_the_sample_report_is_the_groups_newest_with_its_related_rows(c, django_assert_num_queries):
    at = day_floor(timezone.now() - timedelta(days=2)) + timedelta(hours=5)
    gpu, _ = _two_groups(c, at=at)
    reports = list(CrashReport.objects.filter(group=gpu).order_by("occurred_at", "pk"))
    newest = reports[len(reports) // 2]  # not the first nor the last by id
    CrashReport.objects.filter(pk=newest.pk).update(occurred_at=at + timedelta(hours=3))
    now = timezone.now()
    detail = crash_group_detail_get(group_id=gpu.pk, start=now - timedelta(days=30), end=now)
    assert detail.sample.pk == newest.pk
    expected = (newest.device.uid, newest.model_version.ml_model.slug, newest.runtime_version.runtime.slug)
    with django_assert_num_queries(0):  # the device, catalog rows and runtime came with it
        sample = detail.sample
        assert (sample.device.uid, sample.model_version.ml_model.slug, sample.runtime_version.runtime.slug) == expected
        assert sample.delegate.slug and sample.device_model.slug
