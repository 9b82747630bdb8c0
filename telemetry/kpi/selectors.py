"""Telemetry reads: KPIs from rollups (never raw rows for long ranges), time series, breakdowns, adoption.

Ranges are snapped to UTC hours (start floored, end ceiled). Whole UTC days inside a range read daily rollup rows,
the partial-day edges read hourly rows; a trailing partial day that reaches the present is read as its whole day
(nothing starts after now, so the day's rows hold exactly that edge). Each read picks the coarsest grain that keeps
the columns it filters and groups by (DAILY_GRAINS: fleet, device model, compat cell, full cohort). Distinct devices
are exact: whole days count distinct devices in DeviceActivityDay (or a grain row's exact count for one bucket),
partial-day edges count distinct devices in the raw sessions of those (< 2 days of) hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import msgspec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.signals import request_finished, request_started
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from compat.models import Delegate, DelegateKind, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion
from core.slo import slo_targets_get

from .histogram_sql import histogram_sums
from .models import (
    DailyCoarseRollup,
    DailyDeviceModelRollup,
    DailyFleetRollup,
    DailyModelVersionDevices,
    DailyRollup,
    DeviceActivityDay,
    DeviceModelDevice,
    HourlyFleetRollup,
    HourlyRollup,
    InferenceSession,
)
from .rollup_models import COHORT_FIELDS
from .rollups import (
    DAY,
    HOUR,
    ROLLUP_SUM_FIELDS,
    Totals,
    day_ceil,
    day_floor,
    hour_ceil,
    hour_floor,
    range_split,
    totals_sum,
)

SCALAR_SUM_FIELDS = tuple(name for name in ROLLUP_SUM_FIELDS if not name.endswith("histogram"))
# Daily rollups from the coarsest, with the cohort columns each keeps: a read uses the first one keeping every
# column it filters or groups by (fleet: ~1 row a day, device model: ~40, compat cell: ~250, full cohort: more).
COHORT_COLUMNS = frozenset(name.removesuffix("_id") for name in COHORT_FIELDS)
DM = frozenset({"device_model"})  # reads that involve device-model columns only
DAILY_GRAINS = (
    (DailyFleetRollup, frozenset()),
    (DailyDeviceModelRollup, DM),
    (DailyCoarseRollup, frozenset({"device_model", "model_version", "runtime_version", "delegate"})),
    (DailyRollup, COHORT_COLUMNS),
)
HOURLY_GRAINS = ((HourlyFleetRollup, frozenset()), (HourlyRollup, COHORT_COLUMNS))
# API/page parameter -> lookup on rollup, activity and raw session rows (they share the cohort column names).
FILTER_LOOKUPS: dict[str, str] = {
    "device_model": "device_model__slug",
    "device_model_id": "device_model_id",
    "vendor": "device_model__vendor__iexact",
    "tier": "device_model__tier",
    "os_version": "os_version",
    "app_version": "app_version",
    "model": "model_version__ml_model__slug",
    "model_version": "model_version__version",
    "model_version_id": "model_version_id",
    "runtime": "runtime_version__runtime__slug",
    "runtime_version": "runtime_version__version",
    "runtime_version_id": "runtime_version_id",
    "delegate": "delegate__slug",
    "delegate_id": "delegate_id",
}
# Parameters whose value must name a catalog row: the query that proves it exists.
KNOWN_VALUES: dict[str, Callable[[str], bool]] = {
    "device_model": lambda v: DeviceModel.objects.filter(slug=v).exists(),
    "vendor": lambda v: DeviceModel.objects.filter(vendor__iexact=v).exists(),
    "model": lambda v: MLModel.objects.filter(slug=v).exists(),
    "model_version": lambda v: ModelVersion.objects.filter(version=v).exists(),
    "runtime": lambda v: Runtime.objects.filter(slug=v).exists(),
    "runtime_version": lambda v: RuntimeVersion.objects.filter(version=v).exists(),
    "delegate": lambda v: Delegate.objects.filter(slug=v).exists(),
}
# Breakdown dimension -> the columns it groups by (the label joins them with a space).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "device_model": ("device_model__slug",),
    "vendor": ("device_model__vendor",),
    "tier": ("device_model__tier",),
    "os_version": ("os_version",),
    "app_version": ("app_version",),
    "model": ("model_version__ml_model__slug",),
    "model_version": ("model_version__ml_model__slug", "model_version__version"),
    "runtime": ("runtime_version__runtime__slug",),
    "runtime_version": ("runtime_version__runtime__slug", "runtime_version__version"),
    "delegate": ("delegate__slug",),
    "cell": ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id"),
    "cohort": ("device_model_id", "model_version_id", "runtime_version_id", "delegate_id"),
}


@dataclass(frozen=True)
class Kpis:
    """The DESIGN.md KPIs of one scope and range (None where there is no data to compute it from)."""

    start: datetime
    end: datetime
    sessions: int
    crashed_sessions: int
    crash_free_sessions: float | None
    inferences: int
    errors: int
    errors_per_1k: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    accelerator_utilization: float | None
    peak_rss_mb_p50: float | None
    peak_rss_mb_p95: float | None
    devices: int
    crashes: int = 0

    @classmethod
    def from_totals(cls, totals: Totals, *, start: datetime, end: datetime) -> Kpis:
        latency, rss = totals.histogram(), totals.histogram(rss=True)
        p50, p95, p99 = latency.quantiles((0.5, 0.95, 0.99))
        rss50, rss95 = rss.quantiles((0.5, 0.95))
        return cls(
            start=start,
            end=end,
            sessions=totals.sessions,
            crashed_sessions=totals.crashed_sessions,
            crash_free_sessions=1 - totals.crashed_sessions / totals.sessions if totals.sessions else None,
            inferences=totals.inferences,
            errors=totals.errors,
            errors_per_1k=1000 * totals.errors / totals.inferences if totals.inferences else None,
            p50_latency_ms=p50,
            p95_latency_ms=p95,
            p99_latency_ms=p99,
            accelerator_utilization=(
                totals.accelerated_weighted_sum / totals.accelerated_weight if totals.accelerated_weight else None
            ),
            peak_rss_mb_p50=rss50,
            peak_rss_mb_p95=rss95,
            devices=totals.devices,
            crashes=totals.crashes,
        )

    def as_api(self) -> dict:
        """The API.md /telemetry/kpis/ body."""

        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "from": self.start.isoformat().replace("+00:00", "Z"),
            "to": self.end.isoformat().replace("+00:00", "Z"),
            "sessions": self.sessions,
            "crashed_sessions": self.crashed_sessions,
            "crash_free_sessions": r(self.crash_free_sessions, 6),
            "inferences": self.inferences,
            "errors": self.errors,
            "errors_per_1k": r(self.errors_per_1k, 4),
            "latency_ms": {
                "p50": r(self.p50_latency_ms, 3),
                "p95": r(self.p95_latency_ms, 3),
                "p99": r(self.p99_latency_ms, 3),
            },
            "accelerator_utilization": r(self.accelerator_utilization, 6),
            "peak_rss_mb": {"p50": r(self.peak_rss_mb_p50, 2), "p95": r(self.peak_rss_mb_p95, 2)},
            "devices": self.devices,
        }

    def as_dict(self) -> dict:
        return asdict(self)


# -- filters -----------------------------------------------------------------------------------------------------


def kpi_filters_clean(*, params: Mapping[str, str]) -> dict[str, object]:
    """Keeps the known filter parameters with a value; unknown slugs/versions raise ValidationError naming the param."""
    filters: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for name in FILTER_LOOKUPS:
        value = params.get(name)
        if value in (None, ""):
            continue
        if name == "tier" or name.endswith("_id"):
            if not str(value).isdigit():
                errors[name] = [f"{name} must be an integer, got {value!r}."]
                continue
            value = int(value)
        elif name in KNOWN_VALUES and not KNOWN_VALUES[name](value):
            errors[name] = [f"Unknown {name} {value!r}."]
            continue
        filters[name] = value
    if errors:
        raise ValidationError(errors)
    return filters


def _filter_q(filters: Mapping[str, object]) -> Q:
    unknown = set(filters) - set(FILTER_LOOKUPS)
    if unknown:
        raise ValueError(f"unknown KPI filters: {sorted(unknown)}")
    return Q(**{FILTER_LOOKUPS[name]: value for name, value in filters.items()})


# -- core aggregation --------------------------------------------------------------------------------------------


def _columns(filters: Mapping[str, object] | None, fields: tuple[str, ...]) -> set[str]:
    """The cohort columns a read filters or groups by ("device_model__vendor__iexact" -> "device_model")."""
    lookups = [FILTER_LOOKUPS[name] for name in filters or {}] + list(fields)
    return {lookup.split("__")[0].removesuffix("_id") for lookup in lookups}


def daily_model(*, filters: Mapping[str, object] | None = None, fields: tuple[str, ...] = ()):
    """The coarsest daily rollup keeping every column the read filters or groups by (DAILY_GRAINS)."""
    columns = _columns(filters, fields)
    return next(model for model, kept in DAILY_GRAINS if columns <= kept)


def hourly_model(*, filters: Mapping[str, object] | None = None, fields: tuple[str, ...] = ()):
    """The coarsest hourly rollup keeping every column the read filters or groups by (HOURLY_GRAINS)."""
    columns = _columns(filters, fields)
    return next(model for model, kept in HOURLY_GRAINS if columns <= kept)


def range_pieces(start: datetime, end: datetime) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime]]:
    """range_split, except that a trailing partial day reaching the present is read as its whole day.

    Nothing can have started after now (ingest clamps future device times to the receive time), so today's daily
    rows and activity hold exactly [today, end): the 7- and 30-day views read no hourly rows and no raw sessions.
    """
    last_day = day_floor(end)
    if last_day == end or start > last_day or end < timezone.now():
        return range_split(start, end)
    if start == last_day:
        return [], (last_day, last_day + DAY)
    edges, (day_start, day_end) = range_split(start, last_day)
    return edges, (day_start if day_start < day_end else last_day, last_day + DAY)


def _utc(moment: datetime | str) -> datetime:
    """A bucket_start read by raw SQL (SQLite returns text) as an aware UTC datetime."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def range_snap(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = hour_floor(start), hour_ceil(end)
    if end <= start:
        raise ValueError("end must be after start")
    return start, end


def _grouped_totals(
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
            _merge_rows_fast(rows, fields=fields, key=key, groups=groups)
            continue
        if fields:
            for row in rows.values(*fields, *ROLLUP_SUM_FIELDS).iterator(chunk_size=2000):
                groups[key(row)].add_row(row)
            continue
        sums = rows.aggregate(**{name: Sum(name) for name in SCALAR_SUM_FIELDS})
        if sums["sessions"] is None:  # no rows
            continue
        totals = groups[key({})]
        for name in SCALAR_SUM_FIELDS:
            setattr(totals, name, getattr(totals, name) + sums[name])
        for column, (counts, zero) in histogram_sums(rows, group_fields=()).get((), {}).items():
            totals.add_histogram({"counts": counts, "zero_count": zero}, rss=column == "peak_rss_histogram")
    return groups


_COUNTS = msgspec.json.Decoder(dict[str, int])


def _merge_rows_fast(rows, *, fields: tuple[str, ...], key: Callable[[dict], object], groups: dict) -> None:
    """Adds rollup rows into per-group Totals, reading histogram counts as text decoded by msgspec (PostgreSQL).

    The ORM's JSONField decoding made up ~75 % of a 30-day per-cell read (perf/dashboard_bench.py).
    """
    inner = rows.order_by().values(
        **{f"g{i}": F(name) for i, name in enumerate(fields)}, **{f"s_{n}": F(n) for n in SCALAR_SUM_FIELDS},
        h0=F("latency_histogram"), h1=F("peak_rss_histogram"),
    )  # fmt: skip
    sql, params = inner.query.sql_with_params()
    columns = [*(f"r.g{i}" for i in range(len(fields))), *(f"r.s_{n}" for n in SCALAR_SUM_FIELDS)]
    query = (
        f"SELECT {', '.join(columns)}, (r.h0 -> 'counts')::text, COALESCE((r.h0 ->> 'zero_count')::bigint, 0), "  # noqa: S608
        f"(r.h1 -> 'counts')::text, COALESCE((r.h1 ->> 'zero_count')::bigint, 0) FROM ({sql}) r"
    )
    width = len(fields)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        for row in cursor.fetchall():
            totals = groups[key(dict(zip(fields, row[:width], strict=True)))]
            for name, value in zip(SCALAR_SUM_FIELDS, row[width : width + len(SCALAR_SUM_FIELDS)], strict=True):
                setattr(totals, name, getattr(totals, name) + value)
            latency, latency_zero, rss, rss_zero = row[width + len(SCALAR_SUM_FIELDS) :]
            for counts, target in ((latency, totals.latency_counts), (rss, totals.rss_counts)):
                for bucket, count in (_COUNTS.decode(counts) if counts else {}).items():
                    target[bucket] += count
            totals.latency_zero += latency_zero
            totals.rss_zero += rss_zero


def _grouped_devices(
    *,
    start: datetime,
    end: datetime,
    q: Q,
    fields: tuple[str, ...],
    key: Callable[[dict], object] | None = None,
    by_device_model: bool = False,
) -> dict[object, int]:
    """Exact distinct devices per group: DeviceActivityDay for whole days, raw sessions for partial-day edges.

    ``by_device_model``: the filters and groups involve device-model columns only, so whole days can probe each
    DeviceModelDevice pair for one activity day in range instead of reading every activity row of the range.
    """
    key = key or (lambda row: tuple(row[f] for f in fields))
    edges, (day_start, day_end) = range_pieces(start, end)
    retention_cutoff = timezone.now() - timedelta(days=settings.RAW_RETENTION_DAYS)
    raw_q, activity_days = Q(), Q()
    for a, b in edges:
        if a < retention_cutoff:  # raw rows are gone: count the edge's whole day (documented over-count)
            activity_days |= Q(day__gte=day_floor(a).date(), day__lt=day_floor(b - HOUR).date() + DAY)
        else:
            raw_q |= Q(started_at__gte=a, started_at__lt=b)
    if day_start < day_end:
        activity_days |= Q(day__gte=day_start.date(), day__lt=day_end.date())
    activity = DeviceActivityDay.objects.filter(activity_days, q) if activity_days else None
    if not raw_q:
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
    pairs: set[tuple] = set()
    raw = InferenceSession.objects.filter(raw_q, q).values(*fields, "device_id").distinct()
    sources = [raw] + ([activity.values(*fields, "device_id").distinct()] if activity is not None else [])
    for source in sources:
        pairs.update((key(row), row["device_id"]) for row in source.iterator(chunk_size=5000))
    counts: dict[object, int] = defaultdict(int)
    for group, _device in pairs:
        counts[group] += 1
    return counts


# -- per-request cell totals -------------------------------------------------------------------------------------

# A page asks for the KPIs, the device-model breakdown and the cohort breakdown of one scope: all three are sums of
# the same per-cell totals, so within one HTTP request the rollup rows are read and merged once (request signals
# open and drop the memo; outside a request, e.g. tasks and the API's single reads, nothing is cached).
_request_memo: ContextVar[dict | None] = ContextVar("kpi_request_memo", default=None)


def _memo_open(**kwargs) -> None:
    _request_memo.set({})


def _memo_close(**kwargs) -> None:
    _request_memo.set(None)


request_started.connect(_memo_open, dispatch_uid="telemetry.selectors.memo_open")
request_finished.connect(_memo_close, dispatch_uid="telemetry.selectors.memo_close")


def _cell_totals(
    *, memo: dict, start: datetime, end: datetime, filters: Mapping[str, object], read: bool = True
) -> dict[tuple, Totals] | None:
    """Per-cell Totals of the scope, read once per request; None when the scope needs the app/OS grain.

    With read=False only an already-read scope is returned (a lone KPI read is cheaper merged in SQL).
    """
    daily = daily_model(filters=filters, fields=DIMENSIONS["cohort"])
    if daily is not DailyCoarseRollup:
        return None
    key = ("cells", start, end, tuple(sorted((k, str(v)) for k, v in filters.items())))
    if key not in memo:
        if not read:
            return None
        memo[key] = _grouped_totals(
            start=start, end=end, q=_filter_q(filters), fields=DIMENSIONS["cohort"], daily=daily
        )
    return memo[key]


def _breakdown_from_cells(*, memo: dict, cells: dict[tuple, Totals], dimension: str) -> dict[object, Totals] | None:
    """Cohort or device-model groups summed from the cell totals (fresh Totals: the memo's stay untouched).

    A cohort is one cell: a shallow copy (the caller sets devices; nothing writes to the shared histogram dicts).
    """
    if dimension == "cohort":
        return {cell: replace(totals) for cell, totals in cells.items()}
    if dimension != "device_model":
        return None
    ids = {cell[0] for cell in cells}
    slugs = memo.setdefault("device_model_slugs", {})
    if ids - slugs.keys():
        slugs.update(DeviceModel.objects.filter(pk__in=ids - slugs.keys()).values_list("pk", "slug"))
    per_slug: dict[str, list[Totals]] = defaultdict(list)
    for cell, totals in cells.items():
        per_slug[slugs[cell[0]]].append(totals)
    return {slug: totals_sum(parts) for slug, parts in per_slug.items()}


# -- public selectors --------------------------------------------------------------------------------------------


def kpis_get(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None, count_devices: bool = True
) -> Kpis:
    """KPIs of one scope over [start, end) from rollups; ≤ 6 queries whatever the range.

    ``count_devices=False`` skips the distinct-device count (devices is then 0): a trend against the previous
    period needs no device count, and its unaligned edge would otherwise count raw sessions.
    """
    start, end = range_snap(start, end)
    q = _filter_q(filters or {})
    memo = _request_memo.get()
    cells = _cell_totals(memo=memo, start=start, end=end, filters=filters or {}, read=False) if memo else None
    if cells is not None:
        totals = totals_sum(cells.values())
    else:
        totals = _grouped_totals(
            start=start, end=end, q=q, fields=(), key=lambda row: (), daily=daily_model(filters=filters),
            hourly=hourly_model(filters=filters),
        ).get((), Totals())  # fmt: skip
    totals.devices = 0
    if count_devices:
        totals.devices = _grouped_devices(
            start=start, end=end, q=q, fields=(), key=lambda row: (), by_device_model=_columns(filters, ()) <= DM
        ).get((), 0)
    return Kpis.from_totals(totals, start=start, end=end)


def kpi_breakdown(
    *,
    start: datetime,
    end: datetime,
    filters: Mapping[str, object] | None = None,
    dimension: str,
    count_devices: bool = True,
) -> list[tuple[object, Kpis]]:
    """KPIs per value of one dimension (DIMENSIONS), most sessions first; ≤ 4 queries.

    ``count_devices=False`` leaves devices at 0 (the caller counts them for the few groups it keeps).
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; use one of {sorted(DIMENSIONS)}")
    start, end = range_snap(start, end)
    fields = DIMENSIONS[dimension]
    key = (lambda row: row[fields[0]]) if len(fields) == 1 else (lambda row: tuple(row[f] for f in fields))
    if dimension in ("model_version", "runtime_version"):
        key = lambda row: f"{row[fields[0]]} {row[fields[1]]}"  # noqa: E731 -- a label, as pages show it
    q = _filter_q(filters or {})
    memo, groups = _request_memo.get(), None
    if memo is not None and dimension in ("cohort", "device_model"):
        # Device models read their own daily grain (~40 rows a day) unless the cells were read already.
        cells = _cell_totals(memo=memo, start=start, end=end, filters=filters or {}, read=dimension == "cohort")
        groups = _breakdown_from_cells(memo=memo, cells=cells, dimension=dimension) if cells is not None else None
    if groups is None:
        daily = daily_model(filters=filters, fields=fields)
        groups = _grouped_totals(start=start, end=end, q=q, fields=fields, key=key, daily=daily)
    devices = (
        _grouped_devices(
            start=start, end=end, q=q, fields=fields, key=key, by_device_model=_columns(filters, fields) <= DM
        )
        if count_devices
        else {}
    )
    result = []
    for value, totals in groups.items():
        totals.devices = devices.get(value, 0)
        result.append((value, Kpis.from_totals(totals, start=start, end=end)))
    result.sort(key=lambda item: (-item[1].sessions, str(item[0])))
    return result


def kpi_timeseries(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None, bucket: str = "hour"
) -> list[Kpis]:
    """One Kpis per hour or UTC day of the range (empty buckets included); ≤ 3 queries.

    Devices are exact per bucket when unfiltered (the fleet grains hold one row per bucket) and for filtered day
    buckets (DeviceActivityDay). Filtered hour buckets sum each cohort-hour's exact count, which over-counts only a
    device that switched cohort (e.g. app update) within that hour.
    """
    q = _filter_q(filters or {})
    devices: dict | None = None  # None: the bucket's summed devices column is the count
    if bucket == "hour":
        start, end = range_snap(start, end)
        step, model = HOUR, hourly_model(filters=filters)
    elif bucket == "day":
        start = day_floor(start)
        end = day_ceil(end)
        step, model = DAY, daily_model(filters=filters)
    else:
        raise ValueError("bucket must be 'hour' or 'day'")
    if bucket == "day" and model is not DailyFleetRollup:
        rows = (
            DeviceActivityDay.objects.filter(q, day__gte=start.date(), day__lt=end.date())
            .values("day")
            .annotate(n=Count("device_id", distinct=True))
        )
        devices = {row["day"]: row["n"] for row in rows}
    # Sums and histogram merges per bucket in SQL: merging ~7 k daily JSON rows in Python took ~0.5 s for 30 days.
    per_bucket: dict[datetime, Totals] = defaultdict(Totals)
    rows = model.objects.filter(q, bucket_start__gte=start, bucket_start__lt=end)
    sums = rows.order_by().values("bucket_start").annotate(**{f"sum_{n}": Sum(n) for n in SCALAR_SUM_FIELDS})
    for row in sums:
        totals = per_bucket[row["bucket_start"]]
        for name in SCALAR_SUM_FIELDS:
            setattr(totals, name, row[f"sum_{name}"])
    for (moment,), columns in histogram_sums(rows, group_fields=("bucket_start",)).items():
        totals = per_bucket[_utc(moment)]
        for column, (counts, zero) in columns.items():
            totals.add_histogram({"counts": counts, "zero_count": zero}, rss=column == "peak_rss_histogram")
    series, moment = [], start
    while moment < end:
        totals = per_bucket.get(moment, Totals())
        if devices is not None:
            totals.devices = devices.get(moment.date(), 0)
        series.append(Kpis.from_totals(totals, start=moment, end=moment + step))
        moment += step
    return series


def adoption_timeseries(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None
) -> list[dict[str, object]]:
    """Share of active devices on each model version per UTC day: [{day, model_version, devices, share}]; 2 queries.

    Unfiltered, both counts are precomputed per day (DailyFleetRollup, DailyModelVersionDevices); a scope counts
    its DeviceActivityDay rows.
    """
    q = _filter_q(filters or {})
    days = Q(day__gte=day_floor(start).date(), day__lt=day_ceil(end).date())
    labels = ("model_version__ml_model__slug", "model_version__version")
    if not q:
        fleet = DailyFleetRollup.objects.filter(
            bucket_start__gte=day_floor(start), bucket_start__lt=day_ceil(end)
        ).values_list("bucket_start", "devices")
        totals = {_utc(moment).date(): n for moment, n in fleet}
        rows = DailyModelVersionDevices.objects.filter(days).values("day", *labels, n=F("devices"))
    else:
        activity = DeviceActivityDay.objects.filter(q, days)
        totals = {row["day"]: row["n"] for row in activity.values("day").annotate(n=Count("device_id", distinct=True))}
        rows = activity.values("day", *labels).annotate(n=Count("device_id", distinct=True))
    return [
        {
            "day": row["day"],
            "model_version": f"{row['model_version__ml_model__slug']} {row['model_version__version']}",
            "devices": row["n"],
            "share": row["n"] / totals[row["day"]] if totals.get(row["day"]) else 0.0,
        }
        for row in rows.order_by("day", "model_version__ml_model__slug", "model_version__version")
    ]


def cohorts_missing_targets(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None
) -> list[dict[str, object]]:
    """Cohorts (device model × model version × runtime version × delegate) with enough sessions that miss a target."""
    targets = slo_targets_get()
    # Devices are counted afterwards for the missing cohorts only: counting them for every cohort was the page's
    # costliest query (distinct devices over a week of DeviceActivityDay).
    breakdown = kpi_breakdown(start=start, end=end, filters=filters, dimension="cohort", count_devices=False)
    ids = list(zip(*[value for value, _ in breakdown], strict=True)) if breakdown else [(), (), (), ()]
    device_models = DeviceModel.objects.in_bulk(set(ids[0]))
    model_versions = ModelVersion.objects.select_related("ml_model").in_bulk(set(ids[1]))
    runtime_versions = RuntimeVersion.objects.select_related("runtime").in_bulk(set(ids[2]))
    delegates = Delegate.objects.in_bulk(set(ids[3]))
    missing = []
    for (dm_id, mv_id, rv_id, delegate_id), kpis in breakdown:
        if kpis.sessions < targets.min_sample_sessions:
            continue
        device_model, delegate = device_models[dm_id], delegates[delegate_id]
        misses = kpi_target_misses(kpis=kpis, device_model=device_model, delegate=delegate, targets=targets)
        if misses:
            missing.append(
                {
                    "device_model": device_model,
                    "model_version": model_versions[mv_id],
                    "runtime_version": runtime_versions[rv_id],
                    "delegate": delegate,
                    "kpis": kpis,
                    "misses": misses,
                }
            )
    if missing:
        fields = DIMENSIONS["cohort"]
        cohorts = [tuple(row[f.removesuffix("_id")].pk for f in fields) for row in missing]
        # The smallest id-IN box holding the missing cohorts; the counts are then read for exactly those cohorts.
        box = Q(**{f"{f}__in": {cohort[i] for cohort in cohorts} for i, f in enumerate(fields)})
        snapped_start, snapped_end = range_snap(start, end)
        devices = _grouped_devices(
            start=snapped_start, end=snapped_end, q=_filter_q(filters or {}) & box, fields=fields
        )
        for row, cohort in zip(missing, cohorts, strict=True):
            row["kpis"] = replace(row["kpis"], devices=devices.get(cohort, 0))
    return missing


def kpi_target_misses(*, kpis: Kpis, device_model: DeviceModel, delegate: Delegate, targets=None) -> list[str]:
    """Names of the KPIs that miss their target for this device model and delegate."""
    targets = targets or slo_targets_get()
    misses = []
    budget = targets.p95_latency_ms(device_model.tier)
    if kpis.p95_latency_ms is not None and kpis.p95_latency_ms > budget:
        misses.append("p95_latency_ms")
    if kpis.crash_free_sessions is not None and kpis.crash_free_sessions < targets.crash_free_sessions:
        misses.append("crash_free_sessions")
    if kpis.errors_per_1k is not None and kpis.errors_per_1k >= targets.errors_per_1k:
        misses.append("errors_per_1k")
    accelerated = device_model.has_accelerator and delegate.kind != DelegateKind.CPU
    if accelerated and kpis.accelerator_utilization is not None:
        if kpis.accelerator_utilization < targets.accelerator_utilization:
            misses.append("accelerator_utilization")
    memory = device_model.memory_budget_mb
    if memory and kpis.peak_rss_mb_p95 is not None and kpis.peak_rss_mb_p95 > memory * targets.memory_budget_fraction:
        misses.append("peak_rss_mb_p95")
    return misses
