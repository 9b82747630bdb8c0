"""The facts behind the readiness verdicts, for every path (compat cell) of some model versions at once.

A fixed number of queries whatever the number of paths, runs, crashes or versions: the cells, the SLO targets, the
field KPIs of every cell over the window (rollups, ≤ 2 queries) and their distinct devices (≤ 2), the lab runs of
the lab window, the live lab regressions and the open crash groups' hits (raw crash reports of the window).

The window is the field evidence's: the trailing 7 days (`telemetry.rollups.evidence`), so a verdict reads the same
week of field data as the compat status beside it. Lab runs count over `LAB_COVERAGE_DAYS`, as lab coverage does.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from benchmarks.models import METRIC_LABELS, BenchmarkRun, Regression, RegressionStatus, RunStatus
from compat.models import CompatEntry, DeviceModel, ModelVersion
from core.slo import SloTargets, slo_targets_get
from telemetry.kpi.buckets import hour_ceil
from telemetry.kpi.grains import DIMENSIONS, daily_model
from telemetry.kpi.kpis import Kpis
from telemetry.kpi.reads import grouped_devices, grouped_totals
from telemetry.models import CrashGroupStatus, CrashReport
from telemetry.rollups.evidence import EVIDENCE_WINDOW, field_evidence_link

from . import rules

CELL = DIMENSIONS["cell"]  # (model_version_id, runtime_version_id, delegate_id, device_model_id)
OPEN_CRASH_STATUSES = (CrashGroupStatus.NEW, CrashGroupStatus.TRIAGED, CrashGroupStatus.REGRESSED)
LIVE_REGRESSION_STATUSES = (RegressionStatus.OPEN, RegressionStatus.ACKNOWLEDGED)


@dataclass
class PathRow:
    """One path of a model version on a device model: the cell, its facts and its verdict."""

    entry: CompatEntry
    facts: rules.PathFacts
    readiness: rules.Readiness

    @property
    def path_label(self) -> str:
        rv = self.entry.runtime_version
        return f"{rv.runtime.slug} {rv.version} / {self.entry.delegate.slug}"


@dataclass
class DeviceModelRow:
    device_model: DeviceModel
    readiness: rules.Readiness  # the best path's
    paths: list[PathRow] = field(default_factory=list)


@dataclass
class VersionReadiness:
    model_version: ModelVersion
    start: datetime
    end: datetime
    readiness: rules.Readiness
    device_models: list[DeviceModelRow] = field(default_factory=list)
    lab_window_days: int = 90

    @property
    def paths(self) -> list[PathRow]:
        return [path for row in self.device_models for path in row.paths]


def window_get(now: datetime | None = None) -> tuple[datetime, datetime]:
    end = hour_ceil(now or timezone.now())
    return end - EVIDENCE_WINDOW, end


def _field_facts(*, cells: set[tuple], q: Q, start: datetime, end: datetime) -> dict[tuple, rules.FieldFacts]:
    daily = daily_model(fields=CELL)
    totals = grouped_totals(start=start, end=end, q=q, fields=CELL, daily=daily)
    devices = grouped_devices(start=start, end=end, q=q, fields=CELL)
    facts = {}
    for cell, sums in totals.items():
        if cell not in cells or not sums.sessions:
            continue
        kpis = Kpis.from_totals(sums, start=start, end=end)
        facts[cell] = rules.FieldFacts(
            sessions=kpis.sessions, devices=devices.get(cell, 0), p95_latency_ms=kpis.p95_latency_ms,
            crash_free_sessions=kpis.crash_free_sessions, errors_per_1k=kpis.errors_per_1k,
            accelerator_utilization=kpis.accelerator_utilization, peak_rss_mb_p95=kpis.peak_rss_mb_p95,
            link=field_evidence_link(cell, start=start, end=end),
        )  # fmt: skip
    return facts


def _lab_facts(*, cells: set[tuple], q: Q, since: datetime) -> dict[tuple, rules.LabFacts]:
    """Successful runs, the newest one's figures, and a failure when the newest finished run failed."""
    runs = (
        BenchmarkRun.objects.filter(q, ran_at__gte=since, status__in=(RunStatus.DONE, RunStatus.FAILED))
        .order_by("ran_at", "id")
        .values_list(*CELL, "id", "status", "latency_p95_ms", "latency_mean_ms", "peak_memory_mb",
                     "accelerated_fraction", "error")
    )  # fmt: skip
    done: dict[tuple, int] = defaultdict(int)
    newest_done: dict[tuple, tuple] = {}
    newest: dict[tuple, tuple] = {}
    for row in runs:
        cell = row[:4]
        if cell not in cells:
            continue
        newest[cell] = row
        if row[5] == RunStatus.DONE:
            done[cell] += 1
            newest_done[cell] = row
    facts = {}
    for cell, last in newest.items():
        good = newest_done.get(cell)
        failed = last if last[5] == RunStatus.FAILED else None
        facts[cell] = rules.LabFacts(
            runs=done[cell],
            run_id=good[4] if good else None,
            # The lab's p95 when the tool reports one, else its mean (as the run's compat evidence does).
            p95_latency_ms=(good[6] if good[6] is not None else good[7]) if good else None,
            peak_memory_mb=good[8] if good else None,
            accelerated_fraction=good[9] if good else None,
            link=reverse("benchmarks:run", args=[good[4]]) if good else "",
            failed_run_id=failed[4] if failed else None,
            failure_reason=failed[10] if failed else "",
            failed_link=reverse("benchmarks:run", args=[failed[4]]) if failed else "",
        )
    return facts


def _regressions(*, cells: set[tuple], q: Q) -> dict[tuple, list[rules.RegressionFacts]]:
    prefixed = Q(*[(f"change_run__{name}", value) for name, value in q.children])
    rows = (
        Regression.objects.filter(prefixed, status__in=LIVE_REGRESSION_STATUSES)
        .order_by("-detected_at", "-id")
        .values_list(*(f"change_run__{name}" for name in CELL), "id", "metric", "change_pct", "status", "series_id")
    )
    found = defaultdict(list)
    for *cell, pk, metric, change_pct, status, series_id in rows:
        if tuple(cell) in cells:
            link = f"{reverse('benchmarks:regressions')}?{urlencode({'series': series_id, 'status': status})}"
            label = METRIC_LABELS.get(metric, metric)
            found[tuple(cell)].append(rules.RegressionFacts(pk, label, change_pct, status, link))
    return found


def _crash_groups(*, cells: set[tuple], q: Q, start: datetime, end: datetime) -> dict[tuple, list]:
    """Open crash groups per cell with the distinct devices they hit there in the window (raw reports)."""
    rows = (
        CrashReport.objects.filter(
            q, occurred_at__gte=start, occurred_at__lt=end, group__status__in=OPEN_CRASH_STATUSES
        )
        .values(*CELL, "group_id", "group__title", "group__status")
        .annotate(devices=Count("device_id", distinct=True), events=Count("id"))
        .order_by()
    )
    found = defaultdict(list)
    for row in rows:
        cell = tuple(row[name] for name in CELL)
        if cell in cells:
            found[cell].append(
                rules.CrashGroupFacts(
                    id=row["group_id"],
                    title=row["group__title"],
                    status=row["group__status"],
                    devices=row["devices"],
                    events=row["events"],
                    link=reverse("crashes:detail", args=[row["group_id"]]),
                )  # fmt: skip
            )
    return found


def _cell(entry: CompatEntry) -> tuple[int, int, int, int]:
    return (entry.model_version_id, entry.runtime_version_id, entry.delegate_id, entry.device_model_id)


def paths_judge(
    *, entries: list[CompatEntry], start: datetime, end: datetime, now: datetime, targets: SloTargets
) -> list[PathRow]:
    """Facts and verdict of every given cell (entries with their catalog rows loaded)."""
    if not entries:
        return []
    cells = {_cell(entry) for entry in entries}
    columns = list(zip(*cells, strict=True))
    q = Q(**{f"{name}__in": sorted(set(values)) for name, values in zip(CELL, columns, strict=True)})
    lab_days = settings.LAB_COVERAGE_DAYS
    field_facts = _field_facts(cells=cells, q=q, start=start, end=end)
    lab_facts = _lab_facts(cells=cells, q=q, since=now - timedelta(days=lab_days))
    regressions = _regressions(cells=cells, q=q)
    crash_groups = _crash_groups(cells=cells, q=q, start=start, end=end)
    rows = []
    for entry in entries:
        cell = _cell(entry)
        facts = rules.PathFacts(
            delegate_kind=entry.delegate.kind,
            latency_budget_ms=targets.p95_latency_ms(entry.device_model.tier),
            memory_budget_mb=entry.device_model.memory_budget_mb,
            field=field_facts.get(cell),
            lab=lab_facts.get(cell),
            regressions=tuple(regressions.get(cell, ())),
            crash_groups=tuple(crash_groups.get(cell, ())),
            override_status=entry.override_status,
            override_reason=entry.override_reason,
            known_issues=entry.known_issues,
        )
        rows.append(PathRow(entry, facts, rules.path_verdict(facts, targets=targets, lab_window_days=lab_days)))
    return rows


def _entries(**filters) -> list[CompatEntry]:
    return list(
        CompatEntry.objects.filter(**filters)
        .select_related("model_version__ml_model", "runtime_version__runtime", "delegate", "device_model")
        .order_by("device_model__vendor", "device_model__name", "runtime_version__runtime__slug",
                  "runtime_version__version", "delegate__slug", "id")
    )  # fmt: skip


def versions_readiness_get(
    *, model_versions: list[ModelVersion], now: datetime | None = None
) -> list[VersionReadiness]:
    """The verdict of each model version, per device model and path (≤ 9 queries whatever their number)."""
    now = now or timezone.now()
    start, end = window_get(now)
    targets = slo_targets_get()
    rows = paths_judge(
        entries=_entries(model_version__in=[mv.pk for mv in model_versions]), start=start, end=end, now=now,
        targets=targets,
    )  # fmt: skip
    by_version: dict[int, dict[int, DeviceModelRow]] = defaultdict(dict)
    for row in rows:
        devices = by_version[row.entry.model_version_id]
        device_row = devices.setdefault(row.entry.device_model_id, DeviceModelRow(row.entry.device_model, None))
        device_row.paths.append(row)
    result = []
    for mv in model_versions:
        device_rows = list(by_version.get(mv.pk, {}).values())
        for device_row in device_rows:
            device_row.readiness = rules.best_path([path.readiness for path in device_row.paths])
        verdict = rules.version_verdict([(str(d.device_model), d.readiness) for d in device_rows])
        result.append(VersionReadiness(mv, start, end, verdict, device_rows, settings.LAB_COVERAGE_DAYS))
    return result


def version_readiness_get(*, model_version: ModelVersion, now: datetime | None = None) -> VersionReadiness:
    return versions_readiness_get(model_versions=[model_version], now=now)[0]


def path_readiness_get(*, entry_id: int, now: datetime | None = None) -> PathRow:
    """One cell's verdict (the compat cell page's card); CompatEntry.DoesNotExist when there is none."""
    now = now or timezone.now()
    start, end = window_get(now)
    entries = _entries(pk=entry_id)
    if not entries:
        raise CompatEntry.DoesNotExist(entry_id)
    return paths_judge(entries=entries, start=start, end=end, now=now, targets=slo_targets_get())[0]
