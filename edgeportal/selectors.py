"""Reads of the edgeportal app: the KPI home composes the other apps' selectors here.

Status of a KPI card ("met" / "at_risk" / "missed"): `core.kpi_status`, the one definition (at risk: more than
90 % of the allowance used).
"""

from dataclasses import dataclass
from statistics import median

from django.apps import apps
from django.conf import settings
from django.db import connections, router
from django.db.models import Count, Window
from django.urls import reverse

from benchmarks.field_impact import regressions_by_impact, regressions_with_impact
from benchmarks.models import BenchmarkSeries, Regression, RegressionStatus
from compat.models import DeviceModel
from core.kpi_status import kpi_status
from core.slo import SloTargets, slo_targets_get
from labfield.coverage import lab_coverage
from telemetry.alerts.selectors import alerts_by_impact
from telemetry.kpi import selectors as telemetry_selectors
from telemetry.kpi.scope import TimeRange
from telemetry.models import Alert, AlertStatus
from telemetry.support.selectors import crash_groups_new_and_regressed

from .cards import KpiCard, Trend, Worst
from .release_kpis import release_cards_get


def catalog_counts() -> dict[str, int]:
    """Counts for the home page's first cards (devices, models, runs); missing tables count as zero. One query: a
    scalar count per table, on the database the router reads the first of them from (a page's reads go together)."""
    models = {}
    for key, label in (
        ("devices", "telemetry.Device"),
        ("device_models", "compat.DeviceModel"),
        ("model_versions", "compat.ModelVersion"),
        ("runs", "benchmarks.BenchmarkRun"),
    ):
        try:
            models[key] = apps.get_model(label)
        except LookupError:
            continue
    counts = dict.fromkeys(("devices", "device_models", "model_versions", "runs"), 0)
    if not models:
        return counts
    using = router.db_for_read(next(iter(models.values())))
    quote = connections[using].ops.quote_name
    columns = ", ".join(f"(SELECT COUNT(*) FROM {quote(model._meta.db_table)})" for model in models.values())  # noqa: S608
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {columns}")  # noqa: S608 -- table names from the models, quoted
        counts.update(zip(models, cursor.fetchone(), strict=True))
    return counts


STATUS_RANK = {"missed": 3, "at_risk": 2, "met": 1, "unknown": 0}


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def _trend(current: float | None, previous: float | None, *, higher_is_better: bool, unit: str) -> Trend:
    if current is None or previous is None:
        return Trend(None, unit, "", "no previous data")
    delta = current - previous
    if abs(delta) < 1e-12:
        return Trend(0.0, unit, "flat", "no change")
    better = (delta > 0) == higher_is_better
    arrow = "▲" if delta > 0 else "▼"
    amount = f"{abs(delta) * 100:.2f} pp" if unit == "share" else f"{abs(delta):.2f} {UNIT_TEXT[unit]}".rstrip()
    return Trend(delta, unit, "better" if better else "worse", f"{arrow} {amount} vs previous period")


UNIT_TEXT = {"ms": "ms", "MB": "MB", "share": "", "per_1k": "per 1k"}


def _worst_status(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__) if statuses else "unknown"


def benchmark_reproducibility() -> tuple[float | None, int, int]:
    """Median latency CV over lab series that have one, and how many series are flagged unstable."""
    rows = list(BenchmarkSeries.objects.filter(latency_cv__isnull=False).values_list("latency_cv", "unstable"))
    if not rows:
        return None, 0, 0
    return median(cv for cv, _ in rows), sum(1 for _, unstable in rows if unstable), len(rows)


@dataclass(frozen=True)
class PerDeviceModel:
    """A per-device-model KPI judged against each device model's own target: the status and the worst."""

    status: str
    worst: Worst | None


def per_device_model_judge(rows: list[tuple[str, str, float | None, float | None]], unit: str) -> PerDeviceModel:
    """rows: (slug, name, value, target). The status is the worst status; the worst is the largest value ÷ target."""
    judged = [(slug, name, value, target) for slug, name, value, target in rows if value is not None and target]
    if not judged:
        return PerDeviceModel("unknown", None)
    status = _worst_status([kpi_status(value=v, target=t, higher_is_better=False) for _, _, v, t in judged])
    slug, name, value, target = max(judged, key=lambda row: (row[2] / row[3], row[0]))
    text = f"worst: {name} at {value:.0f} of {target:.0f} {unit} ({value / target:.0%} of its target)"
    return PerDeviceModel(status, Worst(slug, name, value, target, text))


def _latency_and_memory(
    *, breakdown, device_models: dict, targets: SloTargets
) -> tuple[PerDeviceModel, PerDeviceModel]:
    """Per device model: p95 vs its tier budget and RSS p95 vs its memory budget (enough sessions only)."""
    latency, memory = [], []
    for slug, kpis in breakdown:
        if kpis.sessions < targets.min_sample_sessions or slug not in device_models:
            continue
        device_model = device_models[slug]
        latency.append((slug, str(device_model), kpis.p95_latency_ms, targets.p95_latency_ms(device_model.tier)))
        if device_model.memory_budget_mb:
            budget = device_model.memory_budget_mb * targets.memory_budget_fraction
            memory.append((slug, str(device_model), kpis.peak_rss_mb_p95, budget))
    return per_device_model_judge(latency, "ms"), per_device_model_judge(memory, "MB")


def home_dashboard_get(*, time_range: TimeRange, filters: dict, query_string: str = "") -> dict:
    """Everything on the KPI home for one range and cohort scope; every telemetry figure from the telemetry KPI selectors."""
    targets = slo_targets_get()
    start, end = time_range.start, time_range.end
    # Cohorts first: within a request they read the scope's per-cell totals once, and the device-model breakdown
    # and kpis_get reuse them.
    worst = telemetry_selectors.cohorts_missing_targets(start=start, end=end, filters=filters, targets=targets)
    by_device_model = telemetry_selectors.kpi_breakdown(start=start, end=end, filters=filters, dimension="device_model")
    kpis = telemetry_selectors.kpis_get(start=start, end=end, filters=filters)
    previous = time_range.previous
    # Only the trends read the previous period: no device count (its first day is partial: raw sessions).
    before = telemetry_selectors.kpis_get(start=previous.start, end=previous.end, filters=filters, count_devices=False)
    device_models = DeviceModel.objects.in_bulk([slug for slug, _ in by_device_model], field_name="slug")
    latency, memory = _latency_and_memory(breakdown=by_device_model, device_models=device_models, targets=targets)
    budgets = " / ".join(f"{v:g}" for _, v in sorted(targets.p95_latency_ms_by_tier.items()))

    def card(key, label, attr, unit, pattern, target, target_text, higher, *, status=None, **extra) -> KpiCard:
        value = getattr(kpis, attr)
        if status is None:
            status = kpi_status(value=value, target=target, higher_is_better=higher)
        trend = _trend(value, getattr(before, attr), higher_is_better=higher, unit=unit)
        return KpiCard(key, label, value, unit, target, target_text, status, _fmt(value, pattern), trend, **extra)

    cards = [
        card("p95_latency", "p95 latency", "p95_latency_ms", "ms", "{:.1f} ms", None, f"per tier {budgets} ms", False,
             status=latency.status, worst=latency.worst, note=latency.worst.text if latency.worst else ""),
        card("crash_free", "Crash-free sessions", "crash_free_sessions", "share", "{:.2%}", targets.crash_free_sessions,
             f"≥ {targets.crash_free_sessions:.1%}", True,
             note=f"{kpis.crashed_sessions:,} of {kpis.sessions:,} sessions crashed"),
        card("errors_per_1k", "Errors per 1k inferences", "errors_per_1k", "per_1k", "{:.2f}", targets.errors_per_1k,
             f"< {targets.errors_per_1k:g}", False),
        card("accelerator", "Accelerator utilization", "accelerator_utilization", "share", "{:.1%}",
             targets.accelerator_utilization, f"≥ {targets.accelerator_utilization:.0%}", True),
        card("memory", "Peak RSS p95", "peak_rss_mb_p95", "MB", "{:.0f} MB", None, "within each device model's budget",
             False, status=memory.status, worst=memory.worst, note=memory.worst.text if memory.worst else ""),
    ]  # fmt: skip
    adoption = telemetry_selectors.adoption_timeseries(start=start, end=end, filters=filters)
    last_day = max((row["day"] for row in adoption), default=None)
    leaders = sorted((r for r in adoption if r["day"] == last_day), key=lambda r: -r["share"])[:3]
    lead = leaders[0]["share"] if leaders else None
    cards.append(
        # The value is the leading version's share; the names go in the note (they are too long for a card value).
        KpiCard("adoption", "Adoption (latest day)", lead, "share", None, "—", "unknown", _fmt(lead, "{:.0%}"),
                note=(f"{leaders[0]['model_version']} leads; then "
                      + ", ".join(f"{r['model_version']} {r['share']:.0%}" for r in leaders[1:])
                      + f" of active devices on {last_day}") if leaders else "")
    )  # fmt: skip
    coverage = lab_coverage(start=start, end=end, filters=filters)
    cards.append(
        KpiCard("lab_coverage", "Lab coverage", coverage.share, "share", 1.0, "100 % of active devices",
                kpi_status(value=coverage.share, target=1.0, higher_is_better=True), _fmt(coverage.share, "{:.0%}"),
                note=(f"{coverage.covered_pairs} of {coverage.pairs} active model version × device model pairs "
                      f"({coverage.covered_devices:,} of {coverage.devices:,} device-pairs) have a successful lab run "
                      f"on a matching runtime and delegate in the last {settings.LAB_COVERAGE_DAYS} days"),
                link=reverse("labfield:coverage") + (f"?{query_string}" if query_string else ""))
    )  # fmt: skip
    cv, unstable, series = benchmark_reproducibility()
    cards.append(
        KpiCard("benchmark_cv", "Benchmark reproducibility (median CV)", cv, "share", targets.benchmark_cv,
                f"≤ {targets.benchmark_cv:.0%}", kpi_status(value=cv, target=targets.benchmark_cv, higher_is_better=False),
                _fmt(cv, "{:.1%}"),
                note=f"{unstable} of {series} lab series unstable" if series else "no repeated lab runs yet",
                link="/benchmarks/")
    )  # fmt: skip
    worst.sort(key=lambda row: (-row["kpis"].devices, -row["kpis"].sessions))
    # The ten open regressions that reach the most devices in the field first (issue: rank by impact); every row
    # also carries the count of all open ones (a window count, computed before the limit: no second query).
    lab_regressions = list(
        regressions_by_impact(
            regressions_with_impact(
                Regression.objects.filter(status=RegressionStatus.OPEN)
                .select_related("series__ml_model", "series__device_model", "series__delegate", "series__runtime")
                .annotate(open_total=Window(Count("id")))
                .order_by("-detected_at")
            )
        )[:10]
    )
    return {
        "kpis": kpis,
        "rolled_up_at": telemetry_selectors.kpis_rolled_up_at(start=start, end=end, filters=filters),
        "previous": before,
        "cards": cards,
        "release_cards": release_cards_get(time_range=time_range),
        "worst_cohorts": worst[:10],
        "worst_cohorts_total": len(worst),
        "crash_groups": crash_groups_new_and_regressed(start=start, end=end),
        "lab_regressions": lab_regressions,
        "lab_regressions_open": lab_regressions[0].open_total if lab_regressions else 0,
        "alerts": list(alerts_by_impact(Alert.objects.filter(status=AlertStatus.OPEN).select_related("rule"))[:10]),
    }
