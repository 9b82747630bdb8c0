"""How a KPI read reads rollups: the range cut into edge hours and whole days, Totals per group, exact devices.

Ranges are snapped to UTC hours (start floored, end ceiled). Whole UTC days inside a range read daily rollup rows,
the partial-day edges read hourly rows; a trailing partial day that reaches the present is read as its whole day
(nothing starts after now, so the day's rows hold exactly that edge). Distinct devices are exact: whole days count
distinct devices in DeviceActivityDay (or a grain row's exact count for one bucket), partial-day edges count
distinct devices in DeviceActivityHour rows of those (< 2 days of) hours, as the hours' rollups saw them (the edges'
sums are rollups too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from ..models import (
    DailyRollup,
    DeviceActivityDay,
    DeviceActivityHour,
    DeviceModelDevice,
    HourlyRollup,
)
from .buckets import DAY, HOUR, day_floor
from .histogram_sql import histogram_sums
from .totals import SCALAR_SUM_COLUMNS, SUM_COLUMNS, Totals
from .windows import range_pieces, trailing_rows_read


def grouped_totals(
    *,
    start: datetime,
    end: datetime,
    q: Q,
    fields: tuple[str, ...],
    key: Callable[[dict], object] | None = None,
    daily=DailyRollup,
    hourly=HourlyRollup,
) -> dict[object, Totals]:
    """Totals per group over [start, end): edge hours from ``hourly``, whole days from ``daily`` (≤ 4 queries).

    Without grouping, sums and histogram merges run in SQL (histogram_sql: ~25 % faster on a 7-day read); per
    group, rows are merged in Python (SQL was ~2× slower with ~1,000 cells) — perf/kpi_bench.py.
    """
    key = key or (lambda row: tuple(row[f] for f in fields))
    edges, (day_start, day_end) = range_pieces(start, end)
    groups: dict[object, Totals] = defaultdict(Totals)
    hour_q = Q()
    for a, b in edges:
        hour_q |= Q(bucket_start__gte=a, bucket_start__lt=b)
    sources = [(hourly, hour_q)] if edges else []
    if day_start < day_end:
        sources.append((daily, Q(bucket_start__gte=day_start, bucket_start__lt=day_end)))
    for model, when in sources:
        rows = model.objects.filter(when, q)
        if fields and connection.vendor == "postgresql":
            merge_rows_fast(rows, fields=fields, key=key, groups=groups)
            continue
        if fields:
            for row in rows.values(*fields, *SUM_COLUMNS).iterator(chunk_size=2000):
                groups[key(row)].add_row(row)
            continue
        sums = rows.aggregate(**{name: Sum(name) for name in SCALAR_SUM_COLUMNS})
        if sums["sessions"] is None:  # no rows
            continue
        totals = groups[key({})]
        totals.add_scalars(sums)
        for column, (counts, zero) in histogram_sums(rows, group_fields=()).get((), {}).items():
            totals.add_histogram({"counts": counts, "zero_count": zero}, rss=column == "peak_rss_histogram")
    return groups


COUNTS_DECODER = msgspec.json.Decoder(dict[str, int])


def merge_rows_fast(rows, *, fields: tuple[str, ...], key: Callable[[dict], object], groups: dict) -> None:
    """Adds rollup rows into per-group Totals, reading histogram counts as text decoded by msgspec (PostgreSQL).

    The ORM's JSONField decoding made up ~75 % of a 30-day per-cell read (perf/dashboard_bench.py).
    """
    inner = rows.order_by().values(
        **{f"g{i}": F(name) for i, name in enumerate(fields)}, **{f"s_{n}": F(n) for n in SCALAR_SUM_COLUMNS},
        h0=F("latency_histogram"), h1=F("peak_rss_histogram"),
    )  # fmt: skip
    sql, params = inner.query.sql_with_params()
    columns = [*(f"r.g{i}" for i in range(len(fields))), *(f"r.s_{n}" for n in SCALAR_SUM_COLUMNS)]
    query = (
        f"SELECT {', '.join(columns)}, (r.h0 -> 'counts')::text, COALESCE((r.h0 ->> 'zero_count')::bigint, 0), "  # noqa: S608
        f"(r.h1 -> 'counts')::text, COALESCE((r.h1 ->> 'zero_count')::bigint, 0) FROM ({sql}) r"
    )
    width = len(fields)
    # The connection the queryset itself would use: on a dashboard request that is the read replica.
    with connections[rows.db].cursor() as cursor:
        cursor.execute(query, params)
        for row in cursor.fetchall():
            totals = groups[key(dict(zip(fields, row[:width], strict=True)))]
            for name, value in zip(SCALAR_SUM_COLUMNS, row[width : width + len(SCALAR_SUM_COLUMNS)], strict=True):
                setattr(totals, name, getattr(totals, name) + value)
            latency, latency_zero, rss, rss_zero = row[width + len(SCALAR_SUM_COLUMNS) :]
            for counts, target in ((latency, totals.latency_counts), (rss, totals.rss_counts)):
                for bucket, count in (COUNTS_DECODER.decode(counts) if counts else {}).items():
                    target[bucket] += count
            totals.latency_zero += latency_zero
            totals.rss_zero += rss_zero


def grouped_devices(
    *,
    start: datetime,
    end: datetime,
    q: Q,
    fields: tuple[str, ...],
    key: Callable[[dict], object] | None = None,
    by_device_model: bool = False,
) -> dict[object, int]:
    """Exact distinct devices per group: DeviceActivityDay for whole days, DeviceActivityHour for partial-day edges.

    ``by_device_model``: the filters and groups involve device-model columns only, so whole days can probe each
    DeviceModelDevice pair for one activity day in range instead of reading every activity row of the range.
    """
    key = key or (lambda row: tuple(row[f] for f in fields))
    if not fields and not q:  # the fleet's devices: a preset window's fleet row holds them (the same read, ahead)
        window = trailing_rows_read(start=start, end=end, filters=None)
        if window is not None:
            return {key({}): window.fleet.devices}
    hours_q, activity_days = device_pieces(start, end)
    activity = DeviceActivityDay.objects.filter(activity_days, q) if activity_days else None
    if not hours_q:
        if activity is None:
            return {}
        if by_device_model:
            active = DeviceActivityDay.objects.filter(
                activity_days, device_id=OuterRef("device_id"), device_model_id=OuterRef("device_model_id")
            )
            pairs = DeviceModelDevice.objects.filter(q, Exists(active))
            if not fields:
                return {key({}): pairs.aggregate(n=Count("device_id", distinct=True))["n"]}
            return {key(row): row["n"] for row in pairs.values(*fields).annotate(n=Count("device_id", distinct=True))}
        if not fields:  # values() without fields would group by every column
            return {key({}): activity.aggregate(n=Count("device_id", distinct=True))["n"]}
        rows = activity.values(*fields).annotate(n=Count("device_id", distinct=True))
        return {key(row): row["n"] for row in rows}
    counts: dict[object, int] = defaultdict(int)
    for group, _device in grouped_device_pairs(start=start, end=end, q=q, fields=fields, key=key):
        counts[group] += 1
    return counts


def device_pieces(start: datetime, end: datetime) -> tuple[Q, Q]:
    """(hour rows' Q, day rows' Q) whose distinct devices are those of [start, end) snapped to hours: the partial-day
    edges from DeviceActivityHour / DeviceLackingHour, whole days from DeviceActivityDay / DeviceLackingDay."""
    edges, (day_start, day_end) = range_pieces(start, end)
    retention_cutoff = timezone.now() - timedelta(days=settings.RAW_RETENTION_DAYS)
    hours_q, activity_days = Q(), Q()
    for a, b in edges:
        if a < retention_cutoff:  # hour rows go with the raw rows: count the edge's whole day (documented over-count)
            activity_days |= Q(day__gte=day_floor(a).date(), day__lt=day_floor(b - HOUR).date() + DAY)
        else:
            hours_q |= Q(hour__gte=a, hour__lt=b)
    if day_start < day_end:
        activity_days |= Q(day__gte=day_start.date(), day__lt=day_end.date())
    return hours_q, activity_days


def grouped_device_pairs(
    *, start: datetime, end: datetime, q: Q, fields: tuple[str, ...], key: Callable[[dict], object] | None = None
) -> set[tuple[object, int]]:
    """The (group, device id) pairs active in [start, end): what grouped_devices counts, for callers that count
    several coarser groupings from one read (the trailing windows: cells, device models and the fleet)."""
    key = key or (lambda row: tuple(row[f] for f in fields))
    hours_q, activity_days = device_pieces(start, end)
    sources = [DeviceActivityHour.objects.filter(hours_q, q)] if hours_q else []
    if activity_days:
        sources.append(DeviceActivityDay.objects.filter(activity_days, q))
    pairs: set[tuple[object, int]] = set()
    for source in sources:
        rows = source.values(*fields, "device_id").distinct()
        pairs.update((key(row), row["device_id"]) for row in rows.iterator(chunk_size=5000))
    return pairs
