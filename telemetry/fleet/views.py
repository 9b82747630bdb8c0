"""Fleet pages: fleet health (charts + breakdown + CSV) and release comparison; every figure from the KPI selectors."""

import csv
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render

from compat.models import DeviceModel
from core.charts import ChartEvent, events_mark
from core.slo import slo_targets_get

from ..kpi import selectors
from ..kpi.scope import Scope, filter_choices, scope_parse
from . import charts
from . import selectors as fleet_selectors
from .fallback import SAMPLE_SESSIONS, fallback_ops_get
from .release_health import ReleaseHealthRows, release_health_panel
from .releases import release_compare_rows, release_options

DIMENSION_CHOICES = (
    ("device_model", "Device model"),
    ("vendor", "Vendor"),
    ("tier", "Tier"),
    ("os_version", "OS version"),
    ("app_version", "App version"),
    ("model", "Model"),
    ("model_version", "Model version"),
    ("runtime", "Runtime"),
    ("runtime_version", "Runtime version"),
    ("delegate", "Delegate"),
)
SORT_COLUMNS = {
    "sessions": "sessions",
    "devices": "devices",
    "p95": "p95_latency_ms",
    "crash_free": "crash_free_sessions",
    "errors": "errors_per_1k",
    "accel": "accelerator_utilization",
    "rss": "peak_rss_mb_p95",
}


def _device_model_in_scope(filters: dict[str, object]) -> tuple[int | None, int | None]:
    """(tier, memory budget MB) of the scope: the tier filter or the filtered device model's (one query), else None."""
    tier, budget_mb = None, None
    if filters.get("device_model"):
        row = DeviceModel.objects.filter(slug=filters["device_model"]).values_list("tier", "memory_budget_mb").first()
        tier, budget_mb = row or (None, None)
    if "tier" in filters:
        tier = int(filters["tier"])
    return tier, budget_mb


def breakdown_filter_params(dimension: str, value) -> dict[str, str]:
    """The filter parameters that narrow the page to one breakdown row."""
    if dimension in ("model_version", "runtime_version"):
        parent, version = str(value).split(" ", 1)
        return {("model" if dimension == "model_version" else "runtime"): parent, dimension: version}
    return {dimension: str(value)}


def breakdown_rows(*, scope: Scope, dimension: str, sort: str) -> list[dict]:
    rows = []
    for value, kpis in selectors.kpi_breakdown(
        start=scope.time_range.start, end=scope.time_range.end, filters=scope.filters, dimension=dimension
    ):
        params = dict(p.split("=", 1) for p in scope.query_string.split("&") if p) if scope.query_string else {}
        params.update(breakdown_filter_params(dimension, value))
        rows.append({"value": value, "kpis": kpis, "link": "?" + urlencode(params)})
    column = SORT_COLUMNS.get(sort.lstrip("-"), "sessions")
    descending = not sort.startswith("-") if sort else True
    rows.sort(key=lambda r: (getattr(r["kpis"], column) is None, getattr(r["kpis"], column) or 0), reverse=descending)
    if descending:  # keep rows without a value last in both directions
        rows.sort(key=lambda r: getattr(r["kpis"], column) is None)
    return rows


def breakdown_csv(*, rows: list[dict], dimension: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="fleet-by-{dimension}.csv"'
    writer = csv.writer(response)
    writer.writerow([dimension, "sessions", "devices", "p95_latency_ms", "crash_free_sessions", "errors_per_1k",
                     "accelerator_utilization", "peak_rss_mb_p95"])  # fmt: skip
    for row in rows:
        k = row["kpis"]
        writer.writerow([row["value"], k.sessions, k.devices, k.p95_latency_ms, k.crash_free_sessions, k.errors_per_1k,
                         k.accelerator_utilization, k.peak_rss_mb_p95])  # fmt: skip
    return response


# What the project may hand the fleet page to mark on its time charts: (start=, end=, filters=) -> events. Telemetry
# cannot import the apps above it (rollouts), so the project passes their events in through the URLconf.
ChartEvents = Callable[..., Sequence[ChartEvent]]
TIME_CHARTS = ("chart-latency", "chart-crash-free", "chart-errors", "chart-accelerator", "chart-adoption")


def _events_for(chart_events: ChartEvents | None, *, start: datetime, end: datetime, filters: dict) -> list:
    return list(chart_events(start=start, end=end, filters=filters)) if chart_events else []


def fleet_health(request, *, chart_events: ChartEvents | None = None, release_health: ReleaseHealthRows | None = None):
    scope = scope_parse(request.GET)
    dimension = request.GET.get("by", "device_model")
    dimension = dimension if dimension in dict(DIMENSION_CHOICES) else "device_model"
    sort = request.GET.get("sort", "sessions")
    rows = breakdown_rows(scope=scope, dimension=dimension, sort=sort)
    if request.GET.get("format") == "csv":
        return breakdown_csv(rows=rows, dimension=dimension)
    start, end, filters = scope.time_range.start, scope.time_range.end, scope.filters
    targets = slo_targets_get()
    kpis = selectors.kpis_get(start=start, end=end, filters=filters)
    bucket = "hour" if end - start <= timedelta(days=2) else "day"
    series = selectors.kpi_timeseries(start=start, end=end, filters=filters, bucket=bucket)
    x = [k.start for k in series]
    tier, budget_mb = _device_model_in_scope(filters)
    adoption = selectors.adoption_timeseries(start=start, end=end, filters=filters)
    days = sorted({row["day"] for row in adoption})
    per_version: dict[str, dict] = {}
    for row in adoption:
        per_version.setdefault(row["model_version"], {})[row["day"]] = row["devices"]
    fallback = fallback_ops_get(start=start, end=end, filters=filters)
    events = _events_for(chart_events, start=start, end=end, filters=filters)
    context = {
        "scope": scope,
        "query_string": scope.query_string,
        "kpis": kpis,
        "rolled_up_at": selectors.kpis_rolled_up_at(start=start, end=end, filters=filters),
        "targets": targets,
        "latency_budget_ms": targets.p95_latency_ms(tier) if tier else None,
        "charts": [
            charts.latency_chart(
                x=x,
                p50=[k.p50_latency_ms for k in series],
                p95=[k.p95_latency_ms for k in series],
                p99=[k.p99_latency_ms for k in series],
                budget_ms=targets.p95_latency_ms(tier) if tier else None,
            ),
            charts.crash_free_chart(
                x=x, crash_free=[k.crash_free_sessions for k in series], target=targets.crash_free_sessions
            ),
            charts.errors_chart(x=x, errors_per_1k=[k.errors_per_1k for k in series], target=targets.errors_per_1k),
            charts.accelerator_chart(
                x=x, utilization=[k.accelerator_utilization for k in series], target=targets.accelerator_utilization
            ),
            charts.fallback_ops_chart(
                ops=[(o.op, o.sessions, o.share) for o in fallback.ops], sample=fallback.is_sample
            ),
            charts.memory_chart(
                bins=fleet_selectors.peak_rss_distribution(start=start, end=end, filters=filters),
                budget_mb=budget_mb,
                p95_mb=kpis.peak_rss_mb_p95,
            ),
            charts.adoption_chart(x=days, series={v: [d.get(day, 0) for day in days] for v, d in per_version.items()}),
        ],  # fmt: skip
        "fallback": fallback,
        "sample_sessions": SAMPLE_SESSIONS,
        "chart_events": events,
        # Sentry app sessions beside the crash-free KPI: handed in by the project (protocols is above telemetry).
        "release_health": release_health_panel(release_health, start=start, end=end, filters=filters),
        "dimension": dimension,
        "dimension_choices": DIMENSION_CHOICES,
        "dimension_label": dict(DIMENSION_CHOICES)[dimension],
        "sort": sort,
        "rows": rows,
        **filter_choices(),
    }
    context["charts"] = [
        events_mark(chart, events) if chart.chart_id in TIME_CHARTS else chart for chart in context["charts"]
    ]
    return render(request, "telemetry/fleet_health.html", context)


def release_compare(request):
    scope = scope_parse(request.GET, default_range="30d")
    by = "app_version" if request.GET.get("by") == "app_version" else "model_version"
    a, b = request.GET.get("a", "").strip(), request.GET.get("b", "").strip()
    options = release_options(by=by, model=scope.filters.get("model"))
    rows, error = [], ""
    if a and b:
        base = {k: v for k, v in scope.filters.items() if k != by}
        unknown = [version for version in (a, b) if version not in options]
        if by == "model_version" and "model" not in base:
            error = "Choose the model whose versions you compare."
        elif unknown:
            what = f"version of {base['model']}" if by == "model_version" else "app version in the fleet"
            error = (
                f"{', '.join(repr(v) for v in unknown)}: no such {what}. Known: {', '.join(options[:12]) or 'none'}."
            )
        else:
            start, end = scope.time_range.start, scope.time_range.end
            kpis_a = selectors.kpis_get(start=start, end=end, filters={**base, by: a})
            kpis_b = selectors.kpis_get(start=start, end=end, filters={**base, by: b})
            rows = release_compare_rows(a=kpis_a, b=kpis_b)
    context = {"scope": scope, "query_string": scope.query_string, "by": by, "a": a, "b": b, "rows": rows,
               "error": error, "release_options": options, **filter_choices()}  # fmt: skip
    return render(request, "telemetry/release_compare.html", context)
