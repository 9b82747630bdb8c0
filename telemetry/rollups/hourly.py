"""The hourly rollup: one hour's HourlyRollup rows (and the hour's fleet, activity and crash-group rows) replaced
from raw rows in one transaction.

Every hour is recomputed from scratch (delete + insert in one transaction), so running it twice, or again after
a worker died mid-way, yields the same rows: nothing is ever incremented in place.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

import msgspec
from django.conf import settings
from django.db import transaction
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ..ingest.partials import sessions_sum
from ..kpi.buckets import HOUR, hour_floor
from ..kpi.coverage import session_lacks_kpi_field
from ..kpi.totals import SessionSums, Totals
from ..models import (
    CrashReport,
    DeviceActivityDay,
    DeviceActivityHour,
    DeviceLackingDay,
    DeviceLackingHour,
    HourlyRollup,
    HourlySessionPartial,
    InferenceSession,
    RollupDirtyHour,
)
from ..models.rollups import COHORT_FIELDS
from .compaction import hour_partials_compact
from .crash_groups import crash_group_hours_replace
from .grains import device_models_seen_record, hour_fleet_replace
from .locks import LOCK_HOUR, constraints_immediate, rollup_lock
from .rows import Cohort, cohort_of, cohort_row

# Test-only hook for the worker-kill test: while this file exists the rollup sleeps inside its transaction.
PAUSE_FILE_ENV = "EDGEPORTAL_ROLLUP_PAUSE_FILE"


@dataclass
class HourResult:
    """What one hour's rollup did: the compat cells it touched, and whether a batch re-marked the hour meanwhile."""

    cells: set[tuple[int, int, int, int]] = field(default_factory=set)
    still_dirty: bool = False


def pause_if_asked() -> None:
    """Test-only: sleep inside the rollup transaction while the pause file exists (see PAUSE_FILE_ENV)."""
    pause_file = os.environ.get(PAUSE_FILE_ENV)
    if not pause_file or not os.path.exists(pause_file):
        return
    with open(pause_file + ".started", "a") as marker:
        marker.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + 120
    while os.path.exists(pause_file) and time.monotonic() < deadline:
        time.sleep(0.1)


class _HistogramCounts(msgspec.Struct):
    """The part of a stored LatencyHistogram the hourly merge needs."""

    counts: dict[int, int] = {}
    zero_count: int = 0


_histogram_decode = msgspec.json.Decoder(_HistogramCounts | None).decode


_counts_decode = msgspec.json.Decoder(dict[str, int]).decode


def _partials_merge(hour: datetime, per_cohort: dict[Cohort, Totals], activity: set[tuple], lacking: set[int]) -> None:
    """Adds the hour's HourlySessionPartial rows (the sessions ingest summed as it stored them)."""
    # Histograms as text decoded by msgspec, as for raw sessions: a device posting small batches makes about a
    # partial per session, and Django's JSONField decoding was the slower half of such a rollup.
    rows = HourlySessionPartial.objects.filter(bucket_start=hour).values_list(
        *COHORT_FIELDS, "device_id", "sessions", "crashed_sessions", "inferences", "errors",
        "accelerated_weighted_sum", "accelerated_weight", Cast("latency_counts", output_field=TextField()),
        "latency_zero", Cast("rss_counts", output_field=TextField()), "rss_zero", "fallback_sessions",
        "lacking_sessions",
    )  # fmt: skip
    for row in rows.iterator(chunk_size=5000):
        *group, device_id, sessions, crashed, inferences, errors, weighted, weight, latency, zero, rss, rss_zero = row[
            :-2
        ]
        fallback, lacking_sessions = row[-2:]
        group = tuple(group)
        if sessions:  # a crashed-session correction alone is no activity of its own
            activity.add((device_id, group))
        if lacking_sessions:
            lacking.add(device_id)
        per_cohort[group].add_sums(SessionSums(
            sessions, crashed, inferences, errors, weighted, weight, _counts_decode(latency), zero,
            _counts_decode(rss), rss_zero, fallback, lacking_sessions,
        ))  # fmt: skip


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _hour_totals(hour: datetime) -> tuple[dict[Cohort, Totals], set[tuple], set[int]]:
    """Per-cohort totals of one hour, plus the (device, cohort) activity pairs and the devices with a session lacking
    a KPI field: the partials ingest wrote for the sessions it stored, and the sessions no partial covers read raw
    (test factories, direct loads, older rows).

    One streamed pass over those sessions: sums, histograms, peak-RSS buckets and activity pairs (distinct
    devices are counted from those), histograms decoded from their JSON text with msgspec. A separate GROUP BY
    for the sums read every row a second time: the hour's rows sit in arrival order, not started_at order, so
    each pass costs a heap page per row; on a busy hour (1.36 M sessions) the two passes took 4.0 s + 5.0 s in
    PostgreSQL alone. On 237 k sessions, decoding with msgspec took 3.2 s against 4.8 s with Django's JSONField
    and 8.5 s with jsonb_each + GROUP BY in PostgreSQL.
    """
    per_cohort: dict[Cohort, Totals] = defaultdict(Totals)
    activity: set[tuple] = set()
    lacking: set[int] = set()
    _partials_merge(hour, per_cohort, activity, lacking)
    rows = (
        InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR, in_partial=False)
        .order_by()
        .values_list(
            *COHORT_FIELDS, "device_id", "has_crash", "inferences", "errors", "accelerated_fraction", "peak_rss_mb",
            Cast("latency_histogram", output_field=TextField()), Cast("fallback_ops", output_field=TextField()),
        )
    )  # fmt: skip
    cohort_width = len(COHORT_FIELDS)
    for chunk in _chunks(rows.iterator(chunk_size=5000), 5000):
        columns = list(zip(*chunk, strict=True))
        groups = list(zip(*columns[:cohort_width], strict=True))
        device_ids, has_crash, inferences, errors, accelerated, peak_rss, texts, fallback_texts = columns[cohort_width:]
        activity.update(zip(device_ids, groups, strict=True))
        histograms = [_histogram_decode(text) if text else None for text in texts]
        latency_counts = [histogram.counts if histogram is not None else {} for histogram in histograms]
        flags = [
            session_lacks_kpi_field(model_version_id=group[1], latency_counts=counts, accelerated_fraction=fraction,
                                    peak_rss_mb=rss)
            for group, counts, fraction, rss in zip(groups, latency_counts, accelerated, peak_rss, strict=True)
        ]  # fmt: skip
        lacking.update(device_id for device_id, flag in zip(device_ids, flags, strict=True) if flag)
        latency_zero = [histogram.zero_count if histogram is not None else 0 for histogram in histograms]
        summed = sessions_sum(
            groups, has_crash=has_crash, inferences=inferences, errors=errors, accelerated=accelerated,
            latency_counts=latency_counts, latency_zero=latency_zero, peak_rss_mb=peak_rss,
            # jsonb and SQLite both render an empty list as "[]"
            fallback=[text not in (None, "[]") for text in fallback_texts], lacking=flags,
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
        per_cohort[cohort_of(row)].crashes += row["n"]
    return per_cohort, activity, lacking


def rollup_hour_compute(*, hour: datetime, only_dirty: bool = False) -> HourResult | None:
    """Replaces one hour's HourlyRollup rows from raw rows (one transaction); returns the compat cells it touched.

    Clears the hour's dirty mark in the same transaction, only if no batch re-marked it meanwhile (then the result
    says `still_dirty`, and the claiming task queues the hour again). With `only_dirty`, an hour no longer marked
    (another task rolled it up since) is skipped: returns None.
    """
    hour = hour_floor(hour)
    now = timezone.now()
    if hour < now - timedelta(days=settings.RAW_RETENTION_DAYS):  # raw rows are (being) deleted: keep the rollup
        RollupDirtyHour.objects.filter(hour=hour).delete()
        return HourResult()
    with transaction.atomic():
        rollup_lock(LOCK_HOUR, hour)
        constraints_immediate()
        # Read after the lock, before the raw rows: every batch that set this mark is committed, so visible below.
        mark = RollupDirtyHour.objects.filter(hour=hour).values_list("marked_at", flat=True).first()
        if only_dirty and mark is None:
            return None
        hour_partials_compact(hour)  # the partials read below, and by the thermal and fallback hours after it
        old_cells = set(
            HourlyRollup.objects.filter(bucket_start=hour).values_list(
                "model_version_id", "runtime_version_id", "delegate_id", "device_model_id"
            )
        )
        HourlyRollup.objects.filter(bucket_start=hour).delete()
        per_cohort, activity, lacking = _hour_totals(hour)
        HourlyRollup.objects.bulk_create(
            [cohort_row(HourlyRollup, hour, cohort, totals, now) for cohort, totals in per_cohort.items()],
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
        DeviceActivityHour.objects.bulk_create(
            [
                DeviceActivityHour(hour=hour, device_id=device_id, **dict(zip(COHORT_FIELDS, cohort, strict=True)))
                for device_id, cohort in activity
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        for model, key in ((DeviceLackingDay, {"day": hour.date()}), (DeviceLackingHour, {"hour": hour})):
            model.objects.bulk_create(
                [model(device_id=device_id, **key) for device_id in lacking], batch_size=1000, ignore_conflicts=True
            )
        hour_fleet_replace(
            hour=hour, cohort_totals=per_cohort.values(), device_ids={device_id for device_id, _ in activity}, now=now
        )
        device_models_seen_record(activity=[(device_id, cohort[0]) for device_id, cohort in activity])
        crash_group_hours_replace(start=hour, end=hour + HOUR)
        pause_if_asked()
        # A batch that re-marked the hour meanwhile changed marked_at: its mark stays and, as that batch found
        # the hour dirty and queued nothing, the claiming task (only_dirty) queues it again.
        re_marked = mark is not None and not RollupDirtyHour.objects.filter(hour=hour, marked_at=mark).delete()[0]
    cells = old_cells | {(c[1], c[2], c[3], c[0]) for c in per_cohort}
    return HourResult(cells=cells, still_dirty=re_marked and only_dirty)
