"""Rollup services: recompute hours from raw rows, days from hours, push field evidence, enforce raw retention.

Every hour is recomputed from scratch (delete + insert in one transaction), so running it twice, or again after
a worker died mid-way, yields the same rows: nothing is ever incremented in place.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice

import msgspec
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from edgeportal_client.histogram import LatencyHistogram

from .crash_rollups import crash_group_day_replace, crash_group_hours_replace
from .models import (
    CrashReport,
    DailyCoarseRollup,
    DailyRollup,
    DeviceActivityDay,
    HourlyRollup,
    HourlySessionPartial,
    InferenceSession,
    RollupDirtyHour,
)
from .partials import SessionSums, sessions_sum
from .rollup_grains import day_grains_replace, device_models_seen_record, hour_fleet_replace, rollup_row
from .rollup_models import COARSE_FIELDS, COHORT_FIELDS
from .statements import prepared_cursor

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
EVIDENCE_WINDOW = timedelta(days=7)
EVIDENCE_SOURCE_REF = "field:7d"
CLOSE_LOOKBACK_HOURS = 2  # the periodic task re-closes the current and previous hours
# Test-only hook for the worker-kill test: while this file exists the rollup sleeps inside its transaction.
PAUSE_FILE_ENV = "EDGEPORTAL_ROLLUP_PAUSE_FILE"
LOCK_HOUR, LOCK_DAY, LOCK_DAY_COARSE = 7301, 7302, 7303  # pg_advisory_xact_lock classes

ROLLUP_SUM_FIELDS = (
    "sessions",
    "crashed_sessions",
    "crashes",
    "inferences",
    "errors",
    "accelerated_weighted_sum",
    "accelerated_weight",
    "devices",
    "latency_histogram",
    "peak_rss_histogram",
)
Cohort = tuple  # (device_model_id, model_version_id, runtime_version_id, delegate_id, app_version, os_version)


# -- pure helpers ------------------------------------------------------------------------------------------------


def hour_floor(moment: datetime) -> datetime:
    """Start of the UTC hour holding ``moment``."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_floors(moments: Iterable[datetime]) -> set[datetime]:
    """{hour_floor(moment)} of many moments: one integer division each (an ingest batch passes ~1,000)."""
    moments = moments if isinstance(moments, list | tuple | set) else list(moments)
    try:
        return {_EPOCH + hours * HOUR for hours in {(moment - _EPOCH) // HOUR for moment in moments}}
    except TypeError:  # a naive moment (SQLite hands some back naive): hour_floor reads it as local time
        return {hour_floor(moment) for moment in moments}


def hour_ceil(moment: datetime) -> datetime:
    """Smallest UTC hour start at or after ``moment``."""
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def day_floor(moment: datetime) -> datetime:
    """Start of the UTC day holding ``moment``."""
    return hour_floor(moment).replace(hour=0)


def day_ceil(moment: datetime) -> datetime:
    """Smallest UTC day start at or after ``moment``."""
    floor = day_floor(moment)
    return floor if floor == moment else floor + DAY


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Hour starts h with start <= h < end (both snapped to hours)."""
    hour, stop, hours = hour_floor(start), hour_ceil(end), []
    while hour < stop:
        hours.append(hour)
        hour += HOUR
    return hours


def range_split(start: datetime, end: datetime) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime]]:
    """Splits an hour-aligned range into hourly edge pieces and whole UTC days: (hour_ranges, (day_start, day_end))."""
    first_day = day_floor(start) if day_floor(start) == start else day_floor(start) + DAY
    last_day = day_floor(end)
    if first_day >= last_day:  # no whole day inside: all hourly
        return [(start, end)], (first_day, first_day)
    edges = [(a, b) for a, b in ((start, first_day), (last_day, end)) if a < b]
    return edges, (first_day, last_day)


@dataclass
class Totals:
    """Additive sums behind every KPI; merging two Totals is the sum of their samples."""

    sessions: int = 0
    crashed_sessions: int = 0
    crashes: int = 0
    inferences: int = 0
    errors: int = 0
    accelerated_weighted_sum: float = 0.0
    accelerated_weight: int = 0
    devices: int = 0
    latency_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_zero: int = 0
    rss_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rss_zero: int = 0

    def add_histogram(self, wire: dict | None, *, rss: bool = False) -> None:
        """Merge a LatencyHistogram wire dict (keys stay strings: cheaper than parsing each row)."""
        if not wire:
            return
        counts = self.rss_counts if rss else self.latency_counts
        for key, count in (wire.get("counts") or {}).items():
            counts[str(key)] += count
        if rss:
            self.rss_zero += wire.get("zero_count", 0)
        else:
            self.latency_zero += wire.get("zero_count", 0)

    def add_sums(self, sums: SessionSums) -> None:
        """Add what a group of sessions sums to (a partial, or sessions read raw)."""
        self.sessions += sums.sessions
        self.crashed_sessions += sums.crashed_sessions
        self.inferences += sums.inferences
        self.errors += sums.errors
        self.accelerated_weighted_sum += sums.accelerated_weighted_sum
        self.accelerated_weight += sums.accelerated_weight
        for key, count in sums.latency_counts.items():
            self.latency_counts[str(key)] += count
        self.latency_zero += sums.latency_zero
        for key, count in sums.rss_counts.items():
            self.rss_counts[str(key)] += count
        self.rss_zero += sums.rss_zero

    def add_row(self, row: dict) -> None:
        """Add a rollup row (values() dict with the CohortRollup column names)."""
        self.sessions += row["sessions"]
        self.crashed_sessions += row["crashed_sessions"]
        self.crashes += row["crashes"]
        self.inferences += row["inferences"]
        self.errors += row["errors"]
        self.accelerated_weighted_sum += row["accelerated_weighted_sum"]
        self.accelerated_weight += row["accelerated_weight"]
        self.devices += row["devices"]
        self.add_histogram(row["latency_histogram"])
        self.add_histogram(row["peak_rss_histogram"], rss=True)

    def histogram(self, *, rss: bool = False):
        """The merged LatencyHistogram (latency, or peak RSS with rss=True)."""
        counts, zero = (self.rss_counts, self.rss_zero) if rss else (self.latency_counts, self.latency_zero)
        # Sums of stored rollup histograms, validated when ingested: skip the per-bucket checks of __init__
        # (they were ~60 % of building a page's ~300 per-cohort KPIs).
        histogram = LatencyHistogram()
        histogram.counts = {int(k): v for k, v in counts.items() if v}
        histogram.zero_count = zero
        return histogram

    def wire(self, *, rss: bool = False) -> dict:
        """Wire format of the merged histogram, for storing in a rollup row."""
        return self.histogram(rss=rss).to_wire()


def totals_sum(parts: Iterable[Totals]) -> Totals:
    """A fresh Totals holding the sum of ``parts`` (the parts stay untouched)."""
    total = Totals()
    for part in parts:
        for name in ROLLUP_SUM_FIELDS:
            if not name.endswith("histogram"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
        for key, count in part.latency_counts.items():
            total.latency_counts[key] += count
        for key, count in part.rss_counts.items():
            total.rss_counts[key] += count
        total.latency_zero += part.latency_zero
        total.rss_zero += part.rss_zero
    return total


def _cohort(row: dict) -> Cohort:
    return tuple(row[name] for name in COHORT_FIELDS)


def _rollup_row(model, bucket_start: datetime, cohort: Cohort, totals: Totals, now: datetime):
    return rollup_row(
        model,
        bucket_start=bucket_start,
        totals=totals,
        devices=totals.devices,
        now=now,
        **dict(zip(COHORT_FIELDS, cohort, strict=True)),
    )


def _lock(kind: int, moment: datetime) -> None:
    """Serializes recomputes of one hour/day (concurrent delete+insert would collide on the unique constraint)."""
    if connection.vendor == "postgresql":  # SQLite serializes writers by itself
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [kind, int(moment.timestamp()) // 3600])


def _constraints_immediate() -> None:
    """Checks this transaction's foreign keys as each row goes in, not at COMMIT.

    The rollup clears the hour's dirty mark last. Deferred to COMMIT, its foreign-key checks (crash-group rollup rows
    → crash group, activity rows → device) waited there for an ingest batch holding that group or device, while the
    batch waited for the cleared mark: a deadlock (seen in perf/ingest_bench.py). Checked early, the rollup waits for
    the batch before it touches the mark.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _pause_if_asked() -> None:
    """Test-only: sleep inside the rollup transaction while the pause file exists (see PAUSE_FILE_ENV)."""
    pause_file = os.environ.get(PAUSE_FILE_ENV)
    if not pause_file or not os.path.exists(pause_file):
        return
    with open(pause_file + ".started", "a") as marker:
        marker.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 120
    while os.path.exists(pause_file) and time.monotonic() < deadline:
        time.sleep(0.1)


# -- hourly ------------------------------------------------------------------------------------------------------


class _HistogramCounts(msgspec.Struct):
    """The part of a stored LatencyHistogram the hourly merge needs."""

    counts: dict[int, int] = {}
    zero_count: int = 0


_histogram_decode = msgspec.json.Decoder(_HistogramCounts | None).decode


_counts_decode = msgspec.json.Decoder(dict[str, int]).decode


def _partials_merge(hour: datetime, per_cohort: dict[Cohort, Totals], activity: set[tuple]) -> None:
    """Adds the hour's HourlySessionPartial rows (the sessions ingest summed as it stored them)."""
    # Histograms as text decoded by msgspec, as for raw sessions: a device posting small batches makes about a
    # partial per session, and Django's JSONField decoding was the slower half of such a rollup.
    rows = HourlySessionPartial.objects.filter(bucket_start=hour).values_list(
        *COHORT_FIELDS, "device_id", "sessions", "crashed_sessions", "inferences", "errors",
        "accelerated_weighted_sum", "accelerated_weight", Cast("latency_counts", output_field=TextField()),
        "latency_zero", Cast("rss_counts", output_field=TextField()), "rss_zero",
    )  # fmt: skip
    for row in rows.iterator(chunk_size=5000):
        *group, device_id, sessions, crashed, inferences, errors, weighted, weight, latency, zero, rss, rss_zero = row
        group = tuple(group)
        if sessions:  # a crashed-session correction alone is no activity of its own
            activity.add((device_id, group))
        per_cohort[group].add_sums(SessionSums(
            sessions, crashed, inferences, errors, weighted, weight, _counts_decode(latency), zero,
            _counts_decode(rss), rss_zero,
        ))  # fmt: skip


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _hour_totals(hour: datetime) -> tuple[dict[Cohort, Totals], set[tuple]]:
    """Per-cohort totals of one hour, plus the (device, cohort) activity pairs: the partials ingest wrote for the
    sessions it stored, and the sessions no partial covers read raw (test factories, direct loads, older rows).

    One streamed pass over those sessions: sums, histograms, peak-RSS buckets and activity pairs (distinct
    devices are counted from those), histograms decoded from their JSON text with msgspec. A separate GROUP BY
    for the sums read every row a second time: the hour's rows sit in arrival order, not started_at order, so
    each pass costs a heap page per row; on a busy hour (1.36 M sessions) the two passes took 4.0 s + 5.0 s in
    PostgreSQL alone. On 237 k sessions, decoding with msgspec took 3.2 s against 4.8 s with Django's JSONField
    and 8.5 s with jsonb_each + GROUP BY in PostgreSQL.
    """
    per_cohort: dict[Cohort, Totals] = defaultdict(Totals)
    activity: set[tuple] = set()
    _partials_merge(hour, per_cohort, activity)
    rows = (
        InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR, in_partial=False)
        .order_by()
        .values_list(
            *COHORT_FIELDS, "device_id", "has_crash", "inferences", "errors", "accelerated_fraction", "peak_rss_mb",
            Cast("latency_histogram", output_field=TextField()),
        )
    )  # fmt: skip
    cohort_width = len(COHORT_FIELDS)
    for chunk in _chunks(rows.iterator(chunk_size=5000), 5000):
        columns = list(zip(*chunk, strict=True))
        groups = list(zip(*columns[:cohort_width], strict=True))
        device_ids, has_crash, inferences, errors, accelerated, peak_rss, texts = columns[cohort_width:]
        activity.update(zip(device_ids, groups, strict=True))
        histograms = [_histogram_decode(text) if text else None for text in texts]
        latency_counts = [histogram.counts if histogram is not None else {} for histogram in histograms]
        latency_zero = [histogram.zero_count if histogram is not None else 0 for histogram in histograms]
        summed = sessions_sum(
            groups, has_crash=has_crash, inferences=inferences, errors=errors, accelerated=accelerated,
            latency_counts=latency_counts, latency_zero=latency_zero, peak_rss_mb=peak_rss,
        )  # fmt: skip
        for group, sums in summed.items():
            per_cohort[group].add_sums(sums)
    for _, group in activity:
        per_cohort[group].devices += 1
    crashes = (
        CrashReport.objects.filter(occurred_at__gte=hour, occurred_at__lt=hour + HOUR)
        .values(*COHORT_FIELDS)
        .annotate(n=Count("id"))
    )
    for row in crashes:
        per_cohort[_cohort(row)].crashes += row["n"]
    return per_cohort, activity


def rollup_hour_compute(*, hour: datetime, only_dirty: bool = False) -> set[tuple[int, int, int, int]] | None:
    """Replaces one hour's HourlyRollup rows from raw rows (one transaction); returns the compat cells it touched.

    Clears the hour's dirty mark in the same transaction, only if no batch re-marked it meanwhile. With
    `only_dirty`, an hour no longer marked (another task rolled it up since) is skipped: returns None.
    """
    hour = hour_floor(hour)
    now = timezone.now()
    if hour < now - timedelta(days=settings.RAW_RETENTION_DAYS):  # raw rows are (being) deleted: keep the rollup
        RollupDirtyHour.objects.filter(hour=hour).delete()
        return set()
    with transaction.atomic():
        _lock(LOCK_HOUR, hour)
        _constraints_immediate()
        # Read after the lock, before the raw rows: every batch that set this mark is committed, so visible below.
        mark = RollupDirtyHour.objects.filter(hour=hour).values_list("marked_at", flat=True).first()
        if only_dirty and mark is None:
            return None
        old_cells = set(
            HourlyRollup.objects.filter(bucket_start=hour).values_list(
                "model_version_id", "runtime_version_id", "delegate_id", "device_model_id"
            )
        )
        HourlyRollup.objects.filter(bucket_start=hour).delete()
        per_cohort, activity = _hour_totals(hour)
        HourlyRollup.objects.bulk_create(
            [_rollup_row(HourlyRollup, hour, cohort, totals, now) for cohort, totals in per_cohort.items()],
            batch_size=500,
        )
        # Activity only grows while raw rows exist (retention removes whole old days), so insert-or-ignore is exact.
        DeviceActivityDay.objects.bulk_create(
            [
                DeviceActivityDay(day=hour.date(), device_id=device_id, **dict(zip(COHORT_FIELDS, cohort, strict=True)))
                for device_id, cohort in activity
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        hour_fleet_replace(
            hour=hour, cohort_totals=per_cohort.values(), device_ids={device_id for device_id, _ in activity}, now=now
        )
        device_models_seen_record(activity=[(device_id, cohort[0]) for device_id, cohort in activity])
        crash_group_hours_replace(start=hour, end=hour + HOUR)
        _pause_if_asked()
        # A batch that re-marked the hour meanwhile changed marked_at: its mark stays and, as that batch found
        # the hour dirty and queued nothing, the claiming task queues it again.
        if (
            mark is not None
            and not RollupDirtyHour.objects.filter(hour=hour, marked_at=mark).delete()[0]
            and only_dirty
        ):
            # Not at once: a busy hour is recomputed at most every ROLLUP_REQUEUE_DELAY_S, not back to back.
            transaction.on_commit(lambda: rollup_hours_queue(hours=[hour], countdown=settings.ROLLUP_REQUEUE_DELAY_S))
    return old_cells | {(c[1], c[2], c[3], c[0]) for c in per_cohort}


# -- daily -------------------------------------------------------------------------------------------------------


def rollup_day_compute(*, day: date) -> None:
    """Replaces one UTC day's DailyRollup rows with the sums of its hourly rows (one transaction)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    now = timezone.now()
    with transaction.atomic():
        _lock(LOCK_DAY, start)
        DailyRollup.objects.filter(bucket_start=start).delete()
        per_cohort: dict[Cohort, Totals] = defaultdict(Totals)
        rows = HourlyRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + DAY).values(
            *COHORT_FIELDS, *ROLLUP_SUM_FIELDS
        )
        for row in rows:
            per_cohort[_cohort(row)].add_row(row)
        devices = DeviceActivityDay.objects.filter(day=day).values(*COHORT_FIELDS).annotate(n=Count("device_id"))
        for cohort_totals in per_cohort.values():
            cohort_totals.devices = 0  # the sum of hourly devices double counts; the activity table is exact
        for row in devices:
            if _cohort(row) in per_cohort:
                per_cohort[_cohort(row)].devices = row["n"]
        DailyRollup.objects.bulk_create(
            [_rollup_row(DailyRollup, start, cohort, totals, now) for cohort, totals in per_cohort.items()],
            batch_size=500,
        )
        crash_group_day_replace(start=start)
        rollup_day_coarse_compute(day=day)


def rollup_day_coarse_compute(*, day: date) -> None:
    """Replaces one UTC day's DailyCoarseRollup rows with its DailyRollup rows summed per compat cell.

    Then the day's coarser grains (telemetry/rollup_grains.py) from those rows, in the same transaction.
    """
    _day_coarse_replace(start=datetime(day.year, day.month, day.day, tzinfo=UTC), day=day)


def _day_coarse_replace(*, start: datetime, day: date) -> None:
    """rollup_day_coarse_compute for the daily rows at ``start`` (perf/dashboard_bench.py loads unaligned days)."""
    now = timezone.now()
    with transaction.atomic():
        _lock(LOCK_DAY_COARSE, start)
        DailyCoarseRollup.objects.filter(bucket_start=start).delete()
        per_cell: dict[tuple, Totals] = defaultdict(Totals)
        for row in DailyRollup.objects.filter(bucket_start=start).values(*COARSE_FIELDS, *ROLLUP_SUM_FIELDS):
            per_cell[tuple(row[name] for name in COARSE_FIELDS)].add_row(row)
        # A device counted under two app/os versions of one cell is one device: count distinct, not the sum.
        devices = (
            DeviceActivityDay.objects.filter(day=day)
            .values(*COARSE_FIELDS)
            .annotate(n=Count("device_id", distinct=True))
        )
        found = {tuple(row[name] for name in COARSE_FIELDS): row["n"] for row in devices}
        for cell, totals in per_cell.items():
            totals.devices = found.get(cell, 0)
        DailyCoarseRollup.objects.bulk_create(
            [
                rollup_row(
                    DailyCoarseRollup,
                    bucket_start=start,
                    totals=t,
                    devices=t.devices,
                    now=now,
                    **dict(zip(COARSE_FIELDS, cell, strict=True)),
                )
                for cell, t in per_cell.items()
            ],
            batch_size=500,
        )
        day_grains_replace(start=start, day=day, now=now)


# -- orchestration -----------------------------------------------------------------------------------------------


@dataclass
class RollupResult:
    """What one rollup run did."""

    hours: list[datetime]
    days: list[date]
    cells: set[tuple[int, int, int, int]]
    evidence_items: int = 0


def rollup_hours_compute(
    *, hours: Iterable[datetime], push_evidence: bool = True, only_dirty: bool = False
) -> RollupResult:
    """Recomputes the given hours, then their days, then pushes 7-day field evidence of every touched compat cell.

    With `only_dirty` (the queued task), hours another task already rolled up are skipped (result.hours omits them).
    """
    started = timezone.now()
    hour_list = []
    cells: set[tuple[int, int, int, int]] = set()
    for hour in sorted({hour_floor(h) for h in hours}):
        touched = rollup_hour_compute(hour=hour, only_dirty=only_dirty)
        if touched is not None:
            hour_list.append(hour)
            cells |= touched
    days = sorted({h.date() for h in hour_list})
    for day in days:
        rollup_day_compute(day=day)
    result = RollupResult(hours=hour_list, days=days, cells=cells)
    if push_evidence and cells:
        from .field_evidence import field_evidence_push  # reads through the selectors, which import this module

        result.evidence_items = field_evidence_push(cells=cells, now=started)
    return result


def rollup_range_compute(*, start: datetime, end: datetime) -> RollupResult:
    """Recomputes every hour of [start, end) (simulator, backfills); evidence is pushed once at the end."""
    return rollup_hours_compute(hours=hours_between(start, end))


def rollup_hours_mark_dirty(*, hours: Iterable[datetime]) -> set[datetime]:
    """Marks hours dirty in the caller's transaction; returns the hours that were clean (they need a queued rollup).

    An hour already dirty only gets a new marked_at: the task rolling it up sees that and re-queues it, so under
    load one task per hour is in flight, not one per batch. The mark survives a lost message for the beat sweep.
    """
    marks = sorted(hour_floors(hours))  # same row-lock order in every batch: no deadlock
    if not marks:
        return set()
    now = timezone.now()
    table = connection.ops.quote_name(RollupDirtyHour._meta.db_table)
    if connection.vendor == "postgresql":
        # xmax = 0 only on a freshly inserted row; the upsert is atomic against a rollup deleting the mark.
        with prepared_cursor() as cursor:  # an ingest batch's statement: one text for any number of hours
            cursor.execute(
                f"INSERT INTO {table} (hour, marked_at) SELECT hour, %s::timestamptz "  # noqa: S608
                f"FROM unnest(%s::timestamptz[]) AS m (hour) ON CONFLICT (hour) "
                f"DO UPDATE SET marked_at = GREATEST(EXCLUDED.marked_at, {table}.marked_at + interval '1 microsecond') "
                f"RETURNING hour, (xmax = 0)",
                [now, marks],
            )
            return {hour for hour, inserted in cursor.fetchall() if inserted}
    # SQLite serializes writers (transaction_mode IMMEDIATE): read-then-write is exact.
    existing = set(RollupDirtyHour.objects.filter(hour__in=marks).values_list("hour", flat=True))
    RollupDirtyHour.objects.filter(hour__in=existing).update(marked_at=now)
    RollupDirtyHour.objects.bulk_create(
        [RollupDirtyHour(hour=hour, marked_at=now) for hour in marks if hour not in existing]
    )
    return set(marks) - existing


def rollup_hours_enqueue(*, hours: Iterable[datetime]) -> None:
    """Call inside the ingest transaction with the hour starts it touched: marks them and queues a rollup on commit.

    Pass every hour whose raw rows changed: sessions' started_at hours, crashes' occurred_at hours, and the
    started_at hour of any session whose has_crash flipped.
    """
    newly_dirty = rollup_hours_mark_dirty(hours=hours)
    if not newly_dirty or _deferred.is_set():  # a bulk load (simulator, backfill) rolls the range up once at the end
        return
    rollup_hours_queue(hours=newly_dirty, on_commit=True)


def rollup_hours_queue(*, hours: Iterable[datetime], on_commit: bool = False, countdown: int = 0) -> None:
    """Queues the rollup task for hours marked dirty; the task skips any hour another task already rolled up."""
    from .tasks import rollup_hours_task

    payload = sorted(h.isoformat() for h in hours)

    def send() -> None:
        rollup_hours_task.apply_async(kwargs={"hours": payload, "only_dirty": True}, countdown=countdown or None)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


_deferred = threading.Event()


@contextmanager
def rollups_deferred():
    """Within this block ingest only marks hours dirty (no task per batch); the caller rolls the range up after."""
    _deferred.set()
    try:
        yield
    finally:
        _deferred.clear()


def rollup_hours_close(*, now: datetime | None = None) -> RollupResult:
    """Periodic: recomputes the recent hours plus every hour still marked dirty (late events, lost messages)."""
    now = now or timezone.now()
    recent = hours_between(now - CLOSE_LOOKBACK_HOURS * HOUR, now)
    dirty = list(RollupDirtyHour.objects.values_list("hour", flat=True)[:500])
    return rollup_hours_compute(hours=[*recent, *dirty])
