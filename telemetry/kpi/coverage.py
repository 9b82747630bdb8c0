"""What the release KPIs read of telemetry (docs/rollouts.md): sessions reporting CPU fallback ops per month, and
observability coverage (active devices, and those with a session lacking a KPI field), from rollups.

The counts are kept by the hourly rollup (from the ingest partials and the raw sessions no partial covers, with
`session_lacks_kpi_field`, the one definition beside its raw-row form MISSING_FIELDS): HourlyFleetRollup /
DailyFleetRollup.fallback_sessions and DeviceLackingDay (device × day). A read cuts its range as every KPI read
does (kpi.reads.range_pieces): whole days from the daily rows, partial-day edges from fleet hours, and for distinct
devices the edges' DeviceActivityHour / DeviceLackingHour rows, so the cost follows days and devices, not sessions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Q

from ..models import (
    DailyFleetRollup,
    DeviceActivityDay,
    DeviceActivityHour,
    DeviceLackingDay,
    DeviceLackingHour,
    HourlyFleetRollup,
)
from .buckets import range_snap, utc
from .reads import device_pieces
from .windows import range_pieces, trailing_rows_read

# A session lacks a KPI field when one of these holds (docs/rollouts.md "Observability coverage"); errors is never
# null, so it cannot be missing.
MISSING_FIELDS = {
    "model_version": Q(model_version__isnull=True),
    "latency": Q(latency_histogram__counts={}),
    "accelerated_fraction": Q(accelerated_fraction__isnull=True),
    "peak_rss": Q(peak_rss_mb__isnull=True),
}


def missing_q() -> Q:
    """Raw sessions lacking at least one KPI field."""
    q = Q()
    for condition in MISSING_FIELDS.values():
        q |= condition
    return q


def session_lacks_kpi_field(
    *, model_version_id: int | None, latency_counts: dict | None, accelerated_fraction, peak_rss_mb
) -> bool:
    """MISSING_FIELDS for one session's values, as the rollup sums them (ingest partials and raw rollup passes)."""
    return model_version_id is None or not latency_counts or accelerated_fraction is None or peak_rss_mb is None


def fallback_sessions_by_month(*, start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
    """Per UTC month: (sessions reporting fallback ops, sessions) over [start, end) snapped to hours (two queries)."""
    start, end = range_snap(start, end)
    edges, (day_start, day_end) = range_pieces(start, end)
    months: dict[datetime, list[int]] = defaultdict(lambda: [0, 0])
    sources = []
    if edges:
        hours = Q()
        for a, b in edges:
            hours |= Q(bucket_start__gte=a, bucket_start__lt=b)
        sources.append(HourlyFleetRollup.objects.filter(hours))
    if day_start < day_end:
        sources.append(DailyFleetRollup.objects.filter(bucket_start__gte=day_start, bucket_start__lt=day_end))
    for source in sources:
        for bucket, fallback, sessions in source.values_list("bucket_start", "fallback_sessions", "sessions"):
            bucket = utc(bucket)
            month = months[bucket.replace(day=1, hour=0, minute=0, second=0, microsecond=0)]
            month[0] += fallback
            month[1] += sessions
    return {month: (fallback, sessions) for month, (fallback, sessions) in sorted(months.items()) if sessions}


def observability_devices(*, start: datetime, end: datetime) -> tuple[int, int]:
    """(active devices, active devices none of whose sessions lacks a KPI field) over [start, end) snapped to hours.

    Whole days read DeviceActivityDay and DeviceLackingDay, partial-day edges their hour rows (as kpi.reads counts
    devices; an edge past raw retention counts its whole day). An unfiltered preset window's fleet row holds both
    counts, made by this read ahead (rollups/trailing.py: no query when the request read the window already); else
    two queries for whole days, four with edges.
    """
    start, end = range_snap(start, end)
    window = trailing_rows_read(start=start, end=end, filters=None)
    if window is not None:
        return window.fleet.devices, window.fleet.devices - window.lacking_devices
    hours_q, days_q = device_pieces(start, end)
    if not hours_q:
        if not days_q:
            return 0, 0
        active = DeviceActivityDay.objects.filter(days_q).aggregate(n=Count("device_id", distinct=True))["n"]
        return active, active - lacking_devices(start=start, end=end)
    active_ids = set(DeviceActivityHour.objects.filter(hours_q).values_list("device_id", flat=True).distinct())
    if days_q:
        active_ids |= set(DeviceActivityDay.objects.filter(days_q).values_list("device_id", flat=True).distinct())
    return len(active_ids), len(active_ids) - lacking_devices(start=start, end=end)


def lacking_devices(*, start: datetime, end: datetime) -> int:
    """Distinct devices with a session lacking a KPI field in [start, end) snapped to hours (each is active): whole
    days from DeviceLackingDay, partial-day edges from DeviceLackingHour; one or two queries."""
    start, end = range_snap(start, end)
    hours_q, days_q = device_pieces(start, end)
    if not hours_q:
        if not days_q:
            return 0
        return DeviceLackingDay.objects.filter(days_q).aggregate(n=Count("device_id", distinct=True))["n"]
    lacking_ids = set(DeviceLackingHour.objects.filter(hours_q).values_list("device_id", flat=True).distinct())
    if days_q:
        lacking_ids |= set(DeviceLackingDay.objects.filter(days_q).values_list("device_id", flat=True).distinct())
    return len(lacking_ids)
