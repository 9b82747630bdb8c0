"""Release KPIs for the home page (definitions: docs/rollouts.md "Release KPIs"). Selector functions, one per KPI.

Each takes a half-open UTC range [start, end) and returns plain numbers (None when nothing qualifies) plus the
counts behind them, so the home page can show a value, its sample and a drill-down.
"""

from datetime import datetime

import numpy as np

from benchmarks.models import BenchmarkRun, Regression, RunStatus
from compat.models import CompatStatus, CompatStatusChange

from . import field
from .models import Action, Rollout, RolloutDecision, RolloutStatus


def _median_p90(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    median, p90 = np.percentile(values, [50, 90])  # linear interpolation between order statistics
    return round(float(median), 2), round(float(p90), 2)


def deployment_lead_time(*, start: datetime, end: datetime) -> dict:
    """Hours from a candidate version's creation (first_seen_at) to its first session in a rollout started in range."""
    rollouts = list(
        Rollout.objects.filter(started_at__gte=start, started_at__lt=end)
        .select_related("candidate_version")
        .order_by("id")
    )
    first = field.first_candidate_sessions(rollout_ids=[r.pk for r in rollouts])
    items = [
        {"rollout": r.pk, "hours": round((first[r.pk] - r.candidate_version.first_seen_at).total_seconds() / 3600, 2)}
        for r in rollouts
        if first.get(r.pk) is not None
    ]
    median, p90 = _median_p90([item["hours"] for item in items])
    return {"median_hours": median, "p90_hours": p90, "rollouts": len(items), "items": items}


def rollout_success_rate(*, start: datetime, end: datetime) -> dict:
    """Rollouts ended in range that completed (a rolled-back rollout cannot complete) ÷ rollouts ended in range."""
    ended = Rollout.objects.filter(ended_at__gte=start, ended_at__lt=end)
    total = ended.count()
    completed = ended.filter(status=RolloutStatus.COMPLETED).count()
    return {"value": round(completed / total, 4) if total else None, "completed": completed, "ended": total}


def mttr(*, start: datetime, end: datetime) -> dict:
    """Inference incidents resolved in range — KPI alerts (opened → resolved) and crash groups (first seen → first
    resolved) — median and p90 of the hours to resolve."""
    hours = field.incident_durations_hours(start=start, end=end)
    median, p90 = _median_p90(hours)
    return {"median_hours": median, "p90_hours": p90, "incidents": len(hours)}


def defect_escape_rate(*, start: datetime, end: datetime) -> dict:
    """For the candidate versions of rollouts started in range: defects first found in the field (crash groups first
    seen on the version, KPI alerts on its cohorts — both after its rollout started — and guardrail failures) ÷ those
    plus the defects the lab found before the rollout (regressions on the version, failed runs of it)."""
    rollouts = list(Rollout.objects.filter(started_at__gte=start, started_at__lt=end).order_by("started_at"))
    since: dict[int, datetime] = {}
    for rollout in rollouts:
        since.setdefault(rollout.candidate_version_id, rollout.started_at)
    field_counts = field.field_defects(version_since=since)
    guardrail_failures = RolloutDecision.objects.filter(
        rollout__in=rollouts, automatic=True, action__in=(Action.PAUSE, Action.ROLLBACK)
    ).values_list("rollout__candidate_version_id", flat=True)
    for version_id in guardrail_failures:
        field_counts[version_id] += 1
    lab_counts = dict.fromkeys(since, 0)
    regressions = Regression.objects.filter(change_run__model_version_id__in=list(since)).values_list(
        "change_run__model_version_id", "detected_at"
    )
    failed_runs = BenchmarkRun.objects.filter(model_version_id__in=list(since), status=RunStatus.FAILED).values_list(
        "model_version_id", "ran_at"
    )
    for version_id, at in [*regressions, *failed_runs]:
        if at < since[version_id]:
            lab_counts[version_id] += 1
    in_field, in_lab = sum(field_counts.values()), sum(lab_counts.values())
    versions = [{"model_version": v, "field": field_counts[v], "lab": lab_counts[v]} for v in since]
    rate = round(in_field / (in_field + in_lab), 4) if in_field + in_lab else None
    return {"value": rate, "field": in_field, "lab": in_lab, "versions": versions}


def unsupported_operator_incidence(*, start: datetime, end: datetime) -> list[dict]:
    """Per UTC month: compat cells that turned unsupported, and sessions reporting fallback ops (count and share)."""
    months: dict[str, dict] = {}
    for month, (with_fallback, total) in field.fallback_sessions_by_month(start=start, end=end).items():
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


def observability_coverage(*, start: datetime, end: datetime) -> dict:
    """Devices active in range none of whose sessions lacks a KPI field (version, latency, errors, accelerated
    fraction, peak RSS) ÷ devices active in range."""
    active, covered = field.observability_devices(start=start, end=end)
    return {"value": round(covered / active, 4) if active else None, "covered": covered, "active": active}
