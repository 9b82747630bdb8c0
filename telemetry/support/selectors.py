"""Reads for the support pages (crash group, device) and the compat links: bounded queries, none per row."""

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, models
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from compat.models import CompatEntry
from edgeportal_client.histogram import LatencyHistogram, bucket_value

from .models import (
    CrashGroup,
    CrashGroupDevice,
    CrashGroupStatus,
    CrashReport,
    DailyCrashGroupRollup,
    Device,
    HourlyCrashGroupRollup,
    InferenceSession,
)
from .rollups import DAY, HOUR, day_floor, hour_floor
from .selectors import range_pieces, range_snap

CELL_FIELDS = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
BREAKDOWNS = {
    "device_model": ("device_model__vendor", "device_model__name"),
    "os_version": ("os_version",),
    "model_version": ("model_version__ml_model__slug", "model_version__version"),
    "delegate": ("delegate__runtime__slug", "delegate__slug"),
}
# A crash-group rollup row grouped by its compat cell and the breakdowns' labels (names ride along the ids).
_COMBO_COLUMNS = (*CELL_FIELDS, *dict.fromkeys(column for columns in BREAKDOWNS.values() for column in columns))


@dataclass
class CrashGroupDetail:
    """Everything the crash group page shows, read in a fixed number of queries."""

    group: CrashGroup
    sample: CrashReport | None
    breakdowns: dict[str, list[dict[str, Any]]]
    events_over_time: list[tuple[datetime, int]]
    devices: list[Device]
    cells: list[CompatEntry]
    notes: list = field(default_factory=list)
    audit: list = field(default_factory=list)
    events_in_range: int = 0


def crash_rollup_sources(*, start: datetime, end: datetime, hourly: bool = False) -> list[tuple[type, Q]]:
    """Where crash-group counts of [start, end) live: whole UTC days in daily rows, edge hours in hourly rows.

    With `hourly`, everything from hourly rows (an hour-by-hour chart); the range is snapped to hours like the KPIs'.
    """
    start, end = range_snap(start, end)
    if hourly:
        return [(HourlyCrashGroupRollup, Q(bucket_start__gte=start, bucket_start__lt=end))]
    edges, (day_start, day_end) = range_pieces(start, end)
    sources = []
    if edges:
        hour_q = Q()
        for a, b in edges:
            hour_q |= Q(bucket_start__gte=a, bucket_start__lt=b)
        sources.append((HourlyCrashGroupRollup, hour_q))
    if day_start < day_end:
        sources.append((DailyCrashGroupRollup, Q(bucket_start__gte=day_start, bucket_start__lt=day_end)))
    return sources


def _ranked(counts: Counter, *, total: int, limit: int, label) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], label(item[0])))[:limit]
    return [{"label": label(key), "events": n, "share": n / total} for key, n in ranked]


def crash_group_detail_get(
    *, group_id: int, start: datetime, end: datetime, device_limit: int = 50, cell_limit: int = 20
) -> CrashGroupDetail:
    """A group with breakdowns and events over [start, end), its newest raw report and the cells it implicates.

    Counts come from the crash-group rollups (≤ 4 grouped reads), so the page costs what the combinations the group
    hit cost, not its crash count; only the sample report is raw (one index probe).
    """
    group = CrashGroup.objects.select_related("assignee").get(pk=group_id)
    sample = (
        CrashReport.objects.filter(group=group)
        .select_related("device", "device_model", "model_version__ml_model", "runtime_version__runtime", "delegate")
        .order_by("-occurred_at")
        .first()
    )
    hourly = end - start <= timedelta(days=2)
    combos: Counter = Counter()
    buckets: Counter = Counter()
    for model, when in crash_rollup_sources(start=start, end=end, hourly=hourly):
        rows = model.objects.filter(when, group_id=group.pk)
        for row in rows.values(*_COMBO_COLUMNS).annotate(n=Sum("events")).order_by():
            combos[tuple(row[column] for column in _COMBO_COLUMNS)] += row["n"]
        bucket = F("bucket_start") if hourly or model is DailyCrashGroupRollup else TruncDay("bucket_start")
        for row in rows.values(at=bucket).annotate(n=Sum("events")).order_by():
            buckets[row["at"]] += row["n"]
    total = sum(combos.values())
    breakdowns = {}
    for name, columns in BREAKDOWNS.items():
        positions = [_COMBO_COLUMNS.index(column) for column in columns]
        counts: Counter = Counter()
        for key, n in combos.items():
            counts[tuple(key[p] for p in positions)] += n
        breakdowns[name] = _ranked(
            counts, total=total, limit=10, label=lambda values: " ".join(str(v) for v in values if v) or "(unknown)"
        )
    cells: Counter = Counter()
    for key, n in combos.items():
        cells[key[: len(CELL_FIELDS)]] += n
    devices = list(
        Device.objects.filter(pk__in=CrashGroupDevice.objects.filter(group=group).values("device_id"))
        .select_related("device_model")
        .order_by("-last_seen_at")[:device_limit]
    )
    return CrashGroupDetail(
        group=group,
        sample=sample,
        breakdowns=breakdowns,
        events_over_time=_zero_filled(buckets, start=start, end=end, step=HOUR if hourly else DAY),
        devices=devices,
        cells=_compat_entries(cells=[cell for cell, _ in cells.most_common(cell_limit)]),
        notes=list(group.triage_notes.select_related("author")[:50]),
        audit=list(group.audit_events.select_related("actor")[:50]),
        events_in_range=total,
    )


def _zero_filled(counts: Counter, *, start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, int]]:
    """Every hour or UTC day of [start, end) with its count, zeros included: a chart spans the page's range."""
    moment = hour_floor(start) if step == HOUR else day_floor(start)
    series = []
    while moment < end:
        series.append((moment, counts.get(moment, 0)))
        moment += step
    return series


def _compat_entries(*, cells: list[tuple]) -> list[CompatEntry]:
    """The CompatEntry rows of (model version, runtime version, delegate, device model) id tuples, in one query."""
    if not cells:
        return []
    cell_filter = Q(pk__in=[])
    for cell in cells:
        cell_filter |= Q(**dict(zip(CELL_FIELDS, cell, strict=True)))
    return list(
        CompatEntry.objects.filter(cell_filter).select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate", "device_model"
        )
    )


def devices_search(*, q: str, limit: int = 50) -> list[Device]:
    """Devices whose uid starts with `q` (case-insensitive); the uid unique index serves the prefix."""
    q = q.strip()
    if not q:
        return []
    return list(Device.objects.filter(uid__istartswith=q).select_related("device_model").order_by("uid")[:limit])


@dataclass
class TimelineItem:
    """One row of a device's timeline: a session or a crash."""

    at: datetime
    kind: str  # "session" or "crash"
    obj: Any


def device_timeline_get(*, device: Device, start: datetime, end: datetime, limit: int = 100) -> list[TimelineItem]:
    """The device's sessions and crashes in range, newest first (two index-backed queries)."""
    related = ("model_version__ml_model", "runtime_version__runtime", "delegate")
    sessions = (
        InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end)
        .select_related(*related)
        .order_by("-started_at")[:limit]
    )
    crashes = (
        CrashReport.objects.filter(device=device, occurred_at__gte=start, occurred_at__lt=end)
        .select_related("group", *related)
        .order_by("-occurred_at")[:limit]
    )
    items = [TimelineItem(s.started_at, "session", s) for s in sessions]
    items += [TimelineItem(c.occurred_at, "crash", c) for c in crashes]
    return sorted(items, key=lambda item: item.at, reverse=True)[:limit]


def device_cells_get(*, device: Device, start: datetime, end: datetime) -> list[CompatEntry]:
    """The compat cells this device ran in range (its model versions × runtime versions × delegates)."""
    combos = (
        InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end)
        .values("model_version_id", "runtime_version_id", "delegate_id")
        .distinct()[:50]
    )
    cell_filter = Q(pk__in=[])
    for combo in combos:
        cell_filter |= Q(device_model_id=device.device_model_id, **combo)
    return list(
        CompatEntry.objects.filter(cell_filter).select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate", "device_model"
        )
    )


def crash_groups_new_and_regressed(*, start: datetime, end: datetime, limit: int = 10) -> list[CrashGroup]:
    """Groups first seen in range (new) or regressed and seen in range, by affected devices."""
    return list(
        CrashGroup.objects.filter(
            Q(status=CrashGroupStatus.NEW, first_seen_at__gte=start, first_seen_at__lt=end)
            | Q(status=CrashGroupStatus.REGRESSED, last_seen_at__gte=start)
        )
        .select_related("assignee")
        .order_by("-device_count", "-last_seen_at")[:limit]
    )


RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


@dataclass(frozen=True)
class TimeRange:
    """The page's time range: a preset key (24h/7d/30d) or "custom" with explicit from/to."""

    key: str
    start: datetime
    end: datetime

    @property
    def previous(self) -> "TimeRange":
        """The period of the same length just before, for trends."""
        return TimeRange(self.key, self.start - (self.end - self.start), self.start)


def time_range_parse(*, params, default: str = "7d", now: datetime | None = None) -> TimeRange:
    """Reads `range` (24h/7d/30d/custom) and, for custom, `from`/`to` (ISO dates or datetimes) from query params."""
    from django.utils.dateparse import parse_date, parse_datetime

    now = now or timezone.now()
    key = params.get("range") or default
    if key == "custom" or (key not in RANGES and (params.get("from") or params.get("to"))):

        def _parse(value: str | None, *, inclusive_day: bool = False) -> datetime | None:
            if not value:
                return None
            moment = None if len(value) == 10 else parse_datetime(value)
            if moment is None and (day := parse_date(value)) is not None:
                # A bare "to" date means through the end of that day.
                moment = datetime(day.year, day.month, day.day) + (timedelta(days=1) if inclusive_day else timedelta())
            if moment is not None and timezone.is_naive(moment):
                moment = moment.replace(tzinfo=UTC)
            return moment

        try:
            start, end = _parse(params.get("from")), _parse(params.get("to"), inclusive_day=True)
        except ValueError:
            start = end = None
        end = min(end or now, now)
        start = start or end - RANGES[default]
        if start < end:
            return TimeRange("custom", start, end)
        key = default
    key = key if key in RANGES else default
    if RANGES[key] >= timedelta(days=2):
        # Multi-day presets are calendar days (UTC): the whole days read daily rollups and exact device counts
        # from DeviceActivityDay; only today is a partial edge, so no raw scan for a partial first day.
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return TimeRange(key, today - (RANGES[key] - timedelta(days=1)), now)
    return TimeRange(key, now - RANGES[key], now)


def scope_q(filters: dict[str, object]) -> Q:
    from .selectors import FILTER_LOOKUPS  # the one filter vocabulary, shared with the KPI selector

    return Q(**{FILTER_LOOKUPS[name]: value for name, value in filters.items()})


def peak_rss_distribution(
    *, start: datetime, end: datetime, filters: dict[str, object], max_bins: int = 40
) -> list[tuple[float, int]]:
    """Sessions per peak-RSS bin (MB) from the rollups' merged RSS histograms: hourly rows up to 2 days, else daily.

    Reads the coarsest grain that keeps the filtered columns (one row per day unfiltered).
    """
    from .selectors import daily_model, hourly_model

    model = (hourly_model if end - start <= timedelta(days=2) else daily_model)(filters=filters)
    rows = model.objects.filter(scope_q(filters), bucket_start__gte=start, bucket_start__lt=end)
    counts = _histogram_counts_merge(rows.values("peak_rss_histogram"), column="peak_rss_histogram")
    if not counts:
        return []
    values = {key: bucket_value(key) for key in counts}
    low, high = min(values.values()), max(values.values())
    width = _nice_width((high - low) / max_bins) if high > low else 1.0
    bins: dict[float, int] = {}
    for key, count in counts.items():
        edge = (values[key] // width) * width
        bins[edge] = bins.get(edge, 0) + count
    return sorted(bins.items())


def _histogram_counts_merge(queryset, *, column: str) -> dict[int, int]:
    """Sums a histogram column's counts over the rows: in SQL on PostgreSQL (rows never reach Python), else here."""
    if connection.vendor == "postgresql":
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT kv.key, SUM(kv.value::bigint) FROM ({sql}) r "  # noqa: S608 -- our own compiled queryset
                f"CROSS JOIN LATERAL jsonb_each_text(r.{column} -> 'counts') kv GROUP BY kv.key",
                params,
            )
            return {int(key): int(count) for key, count in cursor.fetchall()}
    counts: dict[int, int] = {}
    for wire in queryset.values_list(column, flat=True).iterator(chunk_size=2000):
        for key, count in ((wire or {}).get("counts") or {}).items():
            counts[int(key)] = counts.get(int(key), 0) + count
    return counts


def _nice_width(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


FALLBACK_SAMPLE_HOURS = 24
FALLBACK_SAMPLE_SESSIONS = 5000


def fallback_ops_top(
    *, end: datetime, filters: dict[str, object], limit: int = 10
) -> tuple[list[tuple[str, int]], int]:
    """Top CPU-fallback ops among the newest sessions that fell back, in the last 24 h of the range.

    Rollups keep no per-op counts, so this reads a bounded sample of raw rows (at most 5,000 sessions): its cost
    does not grow with the fleet. Returns (ops with session counts, sessions sampled).
    """
    sessions = (
        InferenceSession.objects.filter(
            scope_q(filters),
            started_at__gte=end - timedelta(hours=FALLBACK_SAMPLE_HOURS),
            started_at__lt=end,
            accelerated_fraction__lt=1,
        )
        .order_by("-started_at")
        .values_list("fallback_ops", flat=True)[:FALLBACK_SAMPLE_SESSIONS]
    )
    counter: Counter[str] = Counter()
    sampled = 0
    for ops in sessions:
        sampled += 1
        counter.update(set(ops or ()))
    return counter.most_common(limit), sampled


KPI_ROWS = (
    ("p95 latency (ms)", "p95_latency_ms", "{:.1f}"),
    ("Crash-free sessions", "crash_free_sessions", "{:.2%}"),
    ("Errors per 1k", "errors_per_1k", "{:.2f}"),
    ("Accelerator utilization", "accelerator_utilization", "{:.1%}"),
    ("Peak RSS p95 (MB)", "peak_rss_mb_p95", "{:.0f}"),
    ("Sessions", "sessions", "{:,}"),
)


def device_kpis_vs_cohort(*, device: Device, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The device's KPIs (its own raw sessions: one device, bounded) next to its device model's (the KPI selector).

    The device side folds its sessions into the rollups' Totals and reads them through Kpis.from_totals, so the
    definitions are exactly the selector's.
    """
    from .rollups import Totals
    from .selectors import Kpis, kpis_get

    totals = Totals()
    for session in InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end).values(
        "inferences", "errors", "has_crash", "accelerated_fraction", "latency_histogram", "peak_rss_mb"
    ):
        totals.sessions += 1
        totals.crashed_sessions += int(session["has_crash"])
        totals.inferences += session["inferences"]
        totals.errors += session["errors"]
        if session["accelerated_fraction"] is not None:
            totals.accelerated_weighted_sum += session["accelerated_fraction"] * session["inferences"]
            totals.accelerated_weight += session["inferences"]
        totals.add_histogram(session["latency_histogram"])
        if session["peak_rss_mb"]:
            totals.add_histogram(LatencyHistogram.from_samples([session["peak_rss_mb"]]).to_wire(), rss=True)
    if not totals.sessions:
        return []
    mine = Kpis.from_totals(totals, start=start, end=end)
    cohort = kpis_get(start=start, end=end, filters={"device_model_id": device.device_model_id})

    def fmt(value, pattern: str) -> str | None:
        return None if value is None else pattern.format(value)

    return [
        {"label": label, "device": fmt(getattr(mine, attr), pattern), "cohort": fmt(getattr(cohort, attr), pattern)}
        for label, attr, pattern in KPI_ROWS
    ]


CRASH_SORTS = {
    "events": "-event_count",
    "devices": "-device_count",
    "newest": "-first_seen_at",
    "recent": "-last_seen_at",
}


def crash_groups_list(*, params) -> "models.QuerySet[CrashGroup]":
    """Crash groups through the shared CrashGroupFilterSet (status, cohort, q), plus seen dates and a sort."""
    from django.utils.dateparse import parse_date

    from .filtersets import CrashGroupFilterSet  # the same filters as the API

    filterset = CrashGroupFilterSet(params, queryset=CrashGroup.objects.select_related("assignee"))
    groups = filterset.qs if filterset.is_valid() else CrashGroup.objects.none()
    for param, lookup in (
        ("first_seen_from", "first_seen_at__date__gte"),
        ("first_seen_to", "first_seen_at__date__lte"),
        ("last_seen_from", "last_seen_at__date__gte"),
        ("last_seen_to", "last_seen_at__date__lte"),
    ):
        day = parse_date(params.get(param) or "")
        if day:
            groups = groups.filter(**{lookup: day})
    return groups.order_by(CRASH_SORTS.get(params.get("sort", ""), "-last_seen_at"), "-pk")
