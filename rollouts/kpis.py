"""Release KPIs for the home page (definitions: docs/rollouts.md "Release KPIs"). Selector functions, one per KPI.

Each takes a half-open UTC range [start, end) and returns plain numbers (None when nothing qualifies) plus the
counts behind them, so the home page can show a value, its sample and a drill-down.
"""

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from benchmarks.models import BenchmarkRun, Regression, RunStatus
from compat.models import CompatStatus, CompatStatusChange

from . import field
from .models import Action, ReleaseKpi, ReleaseKpiTarget, Rollout, RolloutDecision, RolloutStatus


@dataclass(frozen=True)
class ReleaseKpiSpec:
    """How a release KPI is read and judged: its unit, its direction and the target it starts with."""

    key: str
    label: str
    unit: str  # "hours" or "share" (0–1)
    higher_is_better: bool
    default_target: float
    definition: str


# The defaults are seeded as ReleaseKpiTarget rows (migration 0002, a frozen copy) for admins to edit; a deleted row
# falls back to its default here. DESIGN.md gives no figure for lead time and "trending down" for the escape rate
# and the fallback share, so those three defaults are ours: a week to reach the field, a fifth of the defects
# escaping the lab, one session in twenty falling back to the CPU.
RELEASE_KPIS = (
    ReleaseKpiSpec(ReleaseKpi.DEPLOYMENT_LEAD_TIME, "Deployment lead time (median)", "hours", False, 168.0,
                   "candidate version created → its first session in a rollout started in range"),
    ReleaseKpiSpec(ReleaseKpi.ROLLOUT_SUCCESS_RATE, "Rollout success rate", "share", True, 0.9,
                   "rollouts ended in range that completed ÷ rollouts ended in range"),
    ReleaseKpiSpec(ReleaseKpi.MTTR, "MTTR of inference incidents (median)", "hours", False, 4.0,
                   "alert opened or crash group first seen → resolved, for incidents resolved in range"),
    ReleaseKpiSpec(ReleaseKpi.DEFECT_ESCAPE_RATE, "Post-release defect escape rate", "share", False, 0.2,
                   "field defects ÷ (field defects + lab defects found before the rollout), rollouts started in range"),
    ReleaseKpiSpec(ReleaseKpi.UNSUPPORTED_OPERATOR_INCIDENCE, "Unsupported-operator incidence", "share", False, 0.05,
                   "share of sessions reporting CPU fallback ops; cells turned unsupported beside it"),
    ReleaseKpiSpec(ReleaseKpi.OBSERVABILITY_COVERAGE, "Observability coverage", "share", True, 0.9,
                   "active devices whose every session carries each KPI field ÷ active devices"),
)  # fmt: skip
RELEASE_KPI_SPECS = {spec.key: spec for spec in RELEASE_KPIS}


def release_kpi_targets() -> dict[str, float]:
    """The target of every release KPI: the admin-edited row, else the default (one query)."""
    targets = {spec.key: spec.default_target for spec in RELEASE_KPIS}
    targets.update(ReleaseKpiTarget.objects.filter(kpi__in=list(targets)).values_list("kpi", "target"))
    return targets


def release_kpi_status(*, value: float | None, target: float | None, higher_is_better: bool) -> str:
    """met (at or beyond the target) / missed / unknown (no value or no target)."""
    if value is None or target is None:
        return "unknown"
    return "met" if (value >= target if higher_is_better else value <= target) else "missed"


def _median_p90(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    median, p90 = np.percentile(values, [50, 90])  # linear interpolation between order statistics
    return round(float(median), 2), round(float(p90), 2)


def rollouts_started(*, start: datetime, end: datetime) -> list[Rollout]:
    """Rollouts started in range, by id, with their candidate version: what lead time and defect escape both read
    (a page showing both passes one list to each)."""
    return list(
        Rollout.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("candidate_version__ml_model")
        .order_by("id")
    )


def deployment_lead_time(*, start: datetime, end: datetime, rollouts: list[Rollout] | None = None) -> dict:
    """Hours from a candidate version's creation (first_seen_at) to its first session in a rollout started in range
    (``rollouts``: rollouts_started's list, read here when not given)."""
    rollouts = rollouts_started(start=start, end=end) if rollouts is None else rollouts
    first = field.first_candidate_sessions(rollout_ids=[r.pk for r in rollouts])
    items = [
        {"rollout": r.pk, "hours": round((first[r.pk] - r.candidate_version.first_seen_at).total_seconds() / 3600, 2)}
        for r in rollouts
        if first.get(r.pk) is not None
    ]
    # The drill-down's rows: every rollout started in range, those without a candidate session yet too.
    rows = [
        {"rollout": r.pk, "name": r.name, "candidate": str(r.candidate_version), "started_at": r.started_at,
         "created_at": r.candidate_version.first_seen_at, "first_session_at": first.get(r.pk),
         "hours": next((i["hours"] for i in items if i["rollout"] == r.pk), None)}
        for r in rollouts
    ]  # fmt: skip
    median, p90 = _median_p90([item["hours"] for item in items])
    return {"median_hours": median, "p90_hours": p90, "rollouts": len(items), "items": items, "rows": rows}


def rollout_success_rate(*, start: datetime, end: datetime) -> dict:
    """Rollouts ended in range that completed (a rolled-back rollout cannot complete) ÷ rollouts ended in range."""
    rows = list(
        Rollout.objects.filter(ended_at__gte=start, ended_at__lt=end)
        .order_by("ended_at", "id")
        .values("id", "name", "status", "started_at", "ended_at")
    )
    total = len(rows)
    completed = sum(1 for row in rows if row["status"] == RolloutStatus.COMPLETED)
    value = round(completed / total, 4) if total else None
    return {"value": value, "completed": completed, "ended": total, "rows": rows}


def mttr(*, start: datetime, end: datetime) -> dict:
    """Inference incidents resolved in range — KPI alerts (opened → resolved) and crash groups (first seen → first
    resolved) — median and p90 of the hours to resolve."""
    rows = field.incidents(start=start, end=end)
    median, p90 = _median_p90([row["hours"] for row in rows])
    return {"median_hours": median, "p90_hours": p90, "incidents": len(rows), "rows": rows}


def defect_escape_rate(*, start: datetime, end: datetime, rollouts: list[Rollout] | None = None) -> dict:
    """For the candidate versions of rollouts started in range: defects first found in the field (crash groups first
    seen on the version, KPI alerts on its cohorts — both after its rollout started — and guardrail failures) ÷ those
    plus the defects the lab found before the rollout (regressions on the version, failed runs of it)
    (``rollouts``: rollouts_started's list, read here when not given)."""
    rollouts = rollouts_started(start=start, end=end) if rollouts is None else rollouts
    rollouts = sorted(rollouts, key=lambda r: (r.started_at, r.pk))  # each version's first rollout sets its "since"
    since: dict[int, datetime] = {}
    labels: dict[int, str] = {}
    for rollout in rollouts:
        since.setdefault(rollout.candidate_version_id, rollout.started_at)
        labels[rollout.candidate_version_id] = str(rollout.candidate_version)
    counts = {v: {**found, "guardrail_failures": 0, "regressions": 0, "failed_runs": 0}
              for v, found in field.field_defects(version_since=since).items()}  # fmt: skip
    guardrail_failures = RolloutDecision.objects.filter(
        rollout__in=rollouts, automatic=True, action__in=(Action.PAUSE, Action.ROLLBACK)
    ).values_list("rollout__candidate_version_id", flat=True)
    for version_id in guardrail_failures:
        counts[version_id]["guardrail_failures"] += 1
    regressions = Regression.objects.filter(change_run__model_version_id__in=list(since)).values_list(
        "change_run__model_version_id", "detected_at"
    )
    failed_runs = BenchmarkRun.objects.filter(model_version_id__in=list(since), status=RunStatus.FAILED).values_list(
        "model_version_id", "ran_at"
    )
    for kind, found in (("regressions", regressions), ("failed_runs", failed_runs)):
        for version_id, at in found:
            if at < since[version_id]:
                counts[version_id][kind] += 1
    versions = []
    for version_id, c in counts.items():
        in_field, in_lab = (
            c["crash_groups"] + c["alerts"] + c["guardrail_failures"],
            c["regressions"] + c["failed_runs"],
        )
        versions.append({"model_version": version_id, "label": labels[version_id], "rollout_started_at": since[version_id],
                         **c, "field": in_field, "lab": in_lab})  # fmt: skip
    in_field, in_lab = sum(v["field"] for v in versions), sum(v["lab"] for v in versions)
    rate = round(in_field / (in_field + in_lab), 4) if in_field + in_lab else None
    return {"value": rate, "field": in_field, "lab": in_lab, "versions": versions}


def unsupported_operator_incidence(*, start: datetime, end: datetime, rolled_up: bool = False) -> list[dict]:
    """Per UTC month: compat cells that turned unsupported, and sessions reporting fallback ops (count and share).

    `rolled_up`: the session counts from the fleet rollups (the home card) instead of the raw rows (the drill-down).
    """
    read = field.rolled_up_fallback_sessions_by_month if rolled_up else field.fallback_sessions_by_month
    months: dict[str, dict] = {}
    for month, (with_fallback, total) in read(start=start, end=end).items():
        months[month.strftime("%Y-%m")] = {
            "sessions_with_fallback_ops": with_fallback,
            "sessions": total,
            "fallback_share": round(with_fallback / total, 4) if total else None,
        }
    changes = CompatStatusChange.objects.filter(
        changed_at__gte=start, changed_at__lt=end, to_status=CompatStatus.UNSUPPORTED
    ).values_list("changed_at", flat=True)
    empty = {"sessions_with_fallback_ops": 0, "sessions": 0, "fallback_share": None}
    cells: dict[str, int] = {}
    for at in changes:
        cells[at.strftime("%Y-%m")] = cells.get(at.strftime("%Y-%m"), 0) + 1
    return [
        {"month": month, "unsupported_cells": cells.get(month, 0), **months.get(month, empty)}
        for month in sorted(set(months) | set(cells))
    ]


def fallback_share(months: list[dict]) -> float | None:
    """Sessions reporting fallback ops ÷ sessions, over the months of `unsupported_operator_incidence`."""
    sessions = sum(month["sessions"] for month in months)
    return round(sum(month["sessions_with_fallback_ops"] for month in months) / sessions, 4) if sessions else None


def observability_coverage(*, start: datetime, end: datetime, rolled_up: bool = False) -> dict:
    """Devices active in range none of whose sessions lacks a KPI field (version, latency, errors, accelerated
    fraction, peak RSS) ÷ devices active in range. `rolled_up`: from the device-day rollups (the home card)."""
    read = field.rolled_up_observability_devices if rolled_up else field.observability_devices
    active, covered = read(start=start, end=end)
    return {"value": round(covered / active, 4) if active else None, "covered": covered, "active": active}


def observability_gaps(*, start: datetime, end: datetime, limit: int = 200) -> list[dict]:
    """The rows behind observability coverage: devices with a session lacking a KPI field, and which fields."""
    return field.observability_gaps(start=start, end=end, limit=limit)
