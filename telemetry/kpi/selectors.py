"""KPI selectors: KPIs, breakdowns, time series and adoption of one scope, read from rollups (never raw rows for
long ranges). How the rows are read is kpi/reads.py; which grain is kpi/grains.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from django.db.models import Count, F, Q, Sum

from compat.models import Delegate, DelegateKind, DeviceModel, ModelVersion, RuntimeVersion
from core.slo import slo_targets_get

from ..models import DailyCoarseRollup, DailyFleetRollup, DailyModelVersionDevices, DeviceActivityDay
from .buckets import DAY, HOUR, day_ceil, day_floor, range_snap, utc
from .grains import DIMENSIONS, daily_model, device_model_only, hourly_model
from .histogram_sql import histogram_sums
from .kpis import Kpis
from .memo import request_memo
from .reads import grouped_devices, grouped_totals
from .scope import filter_q
from .totals import SCALAR_SUM_COLUMNS, Totals, totals_sum
from .trailing import trailing_cells_read, trailing_fleet_read
from .windows import trailing_previous_read

# -- per-request cell totals -------------------------------------------------------------------------------------

# A page asks for the KPIs, the device-model breakdown and the cohort breakdown of one scope: all three are sums of
# the same per-cell totals, so within one HTTP request the rollup rows are read and merged once (kpi.memo).


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
        # A preset window's cells are summed ahead, devices included (exact per cell); else the days' rows merge here.
        cells = trailing_cells_read(start=start, end=end, filters=filters)
        memo[_trailing_key(start, end, filters)] = cells  # None: not a window (its devices are counted apart)
        if cells is None:
            cells = grouped_totals(start=start, end=end, q=filter_q(filters), fields=DIMENSIONS["cohort"], daily=daily)
        memo[key] = cells
    return memo[key]


def _trailing_key(start: datetime, end: datetime, filters: Mapping[str, object] | None) -> tuple:
    """The memo key of a scope's trailing-window cells (only an unfiltered scope has them)."""
    return ("trailing cells", start, end, tuple(sorted((k, str(v)) for k, v in (filters or {}).items())))


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
    q = filter_q(filters or {})
    memo = request_memo()
    window = trailing_fleet_read(start=start, end=end, filters=filters)
    if window is not None:  # an unfiltered preset window: one row, devices exact
        totals = replace(window.fleet)
        totals.devices = totals.devices if count_devices else 0
        return Kpis.from_totals(totals, start=start, end=end)
    previous = None if count_devices else trailing_previous_read(start=start, end=end, filters=filters)
    if previous is not None:  # a preset window's previous period (the trends), summed by the same rollup run
        return Kpis.from_totals(replace(previous), start=start, end=end)
    cells = _cell_totals(memo=memo, start=start, end=end, filters=filters or {}, read=False) if memo else None
    if cells is not None:
        totals = totals_sum(cells.values())
    else:
        totals = grouped_totals(
            start=start, end=end, q=q, fields=(), key=lambda row: (), daily=daily_model(filters=filters),
            hourly=hourly_model(filters=filters),
        ).get((), Totals())  # fmt: skip
    totals.devices = 0
    if count_devices:
        totals.devices = grouped_devices(
            start=start, end=end, q=q, fields=(), key=lambda row: (), by_device_model=device_model_only(filters)
        ).get((), 0)
    return Kpis.from_totals(totals, start=start, end=end)


def kpis_rolled_up_at(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None
) -> datetime | None:
    """When the rollup run summed the figures of this scope, if they come from a trailing window (else None: read
    from the finer rollups at request time); no query once the request read the window's KPIs."""
    start, end = range_snap(start, end)
    window = trailing_fleet_read(start=start, end=end, filters=filters)
    return window.built_at if window is not None else None


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
    q = filter_q(filters or {})
    memo, groups = request_memo(), None
    window = trailing_fleet_read(start=start, end=end, filters=filters) if dimension == "device_model" else None
    if window is not None:  # an unfiltered preset window: one row per device model, devices exact
        groups = {slug: replace(totals) for slug, totals in window.device_models.items()}
        if not count_devices:
            for totals in groups.values():
                totals.devices = 0
        return _breakdown_sorted(groups, start=start, end=end)
    if memo is not None and dimension in ("cohort", "device_model"):
        # Device models read their own daily grain (~40 rows a day) unless the cells were read already.
        cells = _cell_totals(memo=memo, start=start, end=end, filters=filters or {}, read=dimension == "cohort")
        groups = _breakdown_from_cells(memo=memo, cells=cells, dimension=dimension) if cells is not None else None
    if groups is None:
        daily = daily_model(filters=filters, fields=fields)
        groups = grouped_totals(start=start, end=end, q=q, fields=fields, key=key, daily=daily)
    if dimension == "cohort" and memo is not None and memo.get(_trailing_key(start, end, filters)) is not None:
        devices = {cell: totals.devices for cell, totals in groups.items()} if count_devices else {}
    elif count_devices:
        devices = grouped_devices(
            start=start, end=end, q=q, fields=fields, key=key, by_device_model=device_model_only(filters, fields)
        )
    else:
        devices = {}
    for value, totals in groups.items():
        totals.devices = devices.get(value, 0)
    return _breakdown_sorted(groups, start=start, end=end)


def _breakdown_sorted(groups: dict[object, Totals], *, start: datetime, end: datetime) -> list[tuple[object, Kpis]]:
    """(value, Kpis) per group, most sessions first."""
    result = [(value, Kpis.from_totals(totals, start=start, end=end)) for value, totals in groups.items()]
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
    q = filter_q(filters or {})
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
    sums = rows.order_by().values("bucket_start").annotate(**{f"sum_{n}": Sum(n) for n in SCALAR_SUM_COLUMNS})
    for row in sums:
        totals = per_bucket[row["bucket_start"]]
        for name in SCALAR_SUM_COLUMNS:
            setattr(totals, name, row[f"sum_{name}"])
    for (moment,), columns in histogram_sums(rows, group_fields=("bucket_start",)).items():
        totals = per_bucket[utc(moment)]
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
    q = filter_q(filters or {})
    days = Q(day__gte=day_floor(start).date(), day__lt=day_ceil(end).date())
    labels = ("model_version__ml_model__slug", "model_version__version")
    if not q:
        fleet = DailyFleetRollup.objects.filter(
            bucket_start__gte=day_floor(start), bucket_start__lt=day_ceil(end)
        ).values_list("bucket_start", "devices")
        totals = {utc(moment).date(): n for moment, n in fleet}
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
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None = None, targets=None
) -> list[dict[str, object]]:
    """Cohorts (device model × model version × runtime version × delegate) with enough sessions that miss a target
    (``targets``: the caller's SloTargets, read here when not given)."""
    targets = targets or slo_targets_get()
    snapped_start, snapped_end = range_snap(start, end)
    window_cells = trailing_cells_read(start=snapped_start, end=snapped_end, filters=filters)
    if window_cells is not None:
        # An unfiltered preset window: each cell row holds its exact devices and KPI quantiles; only the cells with
        # enough sessions to be judged become Kpis (in kpi_breakdown's order).
        breakdown = [
            (cell, Kpis.from_totals(totals, start=snapped_start, end=snapped_end))
            for cell, totals in window_cells.items()
            if totals.sessions >= targets.min_sample_sessions
        ]
        breakdown.sort(key=lambda item: (-item[1].sessions, str(item[0])))
    else:
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
    if missing and window_cells is None:
        fields = DIMENSIONS["cohort"]
        cohorts = [tuple(row[f.removesuffix("_id")].pk for f in fields) for row in missing]
        # The smallest id-IN box holding the missing cohorts; the counts are then read for exactly those cohorts.
        box = Q(**{f"{f}__in": {cohort[i] for cohort in cohorts} for i, f in enumerate(fields)})
        devices = grouped_devices(start=snapped_start, end=snapped_end, q=filter_q(filters or {}) & box, fields=fields)
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
