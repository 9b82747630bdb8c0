"""The release KPI cards of the home page and the rows behind each (its drill-down), from rollouts.kpis.

Release KPIs are judged met / missed against the admin-edited targets (rollouts.ReleaseKpiTarget): met when the
value is at or beyond the target in the KPI's direction. They cover the whole fleet over the page's time range
(a rollout has its own scope, so the page's cohort filters do not apply to them).
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from rollouts import kpis
from rollouts.models import ReleaseKpi
from telemetry.kpi.scope import TimeRange

from .cards import KpiCard


def _display(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} h" if unit == "hours" else f"{value:.1%}"


def _target_text(spec: kpis.ReleaseKpiSpec, target: float | None) -> str:
    if target is None:
        return "none set"
    sign = "≥" if spec.higher_is_better else "≤"
    return f"{sign} {target:g} h" if spec.unit == "hours" else f"{sign} {target:.0%}"


def drill_down_url(kpi: str, time_range: TimeRange) -> str:
    """The page of the rows behind one release KPI, over exactly this window (a preset would move with the clock)."""
    window = {"range": "custom", "from": time_range.start.isoformat(), "to": time_range.end.isoformat()}
    return f"{reverse('release-kpi', args=[kpi])}?{urlencode(window)}"


def _month_trend(months: list[dict]) -> str:
    shares = [(m["month"], m["fallback_share"]) for m in months if m["fallback_share"] is not None]
    if len(shares) < 2:
        return ""
    (before, previous), (month, latest) = shares[-2], shares[-1]
    arrow = "▲" if latest > previous else "▼" if latest < previous else "="
    return f"; {arrow} {latest:.1%} in {month} vs {previous:.1%} in {before}"


def release_figures(*, time_range: TimeRange) -> dict[str, tuple[float | None, str]]:
    """Each release KPI's figure and the note saying what it is made of, over the range."""
    start, end = time_range.start, time_range.end
    rollouts = kpis.rollouts_started(start=start, end=end)
    lead = kpis.deployment_lead_time(start=start, end=end, rollouts=rollouts)
    success = kpis.rollout_success_rate(start=start, end=end)
    mttr = kpis.mttr(start=start, end=end)
    escape = kpis.defect_escape_rate(start=start, end=end, rollouts=rollouts)
    # The two session figures read rollups (as of the last rollup run): raw rows grew the page with history.
    months = kpis.unsupported_operator_incidence(start=start, end=end, rolled_up=True)
    coverage = kpis.observability_coverage(start=start, end=end, rolled_up=True)
    cells = sum(month["unsupported_cells"] for month in months)
    fallback_sessions = sum(month["sessions_with_fallback_ops"] for month in months)
    sessions = sum(month["sessions"] for month in months)
    p90 = "—" if lead["p90_hours"] is None else f"{lead['p90_hours']:g} h"
    mttr_p90 = "—" if mttr["p90_hours"] is None else f"{mttr['p90_hours']:g} h"
    return {
        ReleaseKpi.DEPLOYMENT_LEAD_TIME: (
            lead["median_hours"], f"p90 {p90} over {lead['rollouts']} rollouts reaching the field"),
        ReleaseKpi.ROLLOUT_SUCCESS_RATE: (
            success["value"], f"{success['completed']} of {success['ended']} ended rollouts completed"),
        ReleaseKpi.MTTR: (mttr["median_hours"], f"p90 {mttr_p90} over {mttr['incidents']} resolved incidents"),
        ReleaseKpi.DEFECT_ESCAPE_RATE: (
            escape["value"], f"{escape['field']} found in the field vs {escape['lab']} in the lab before release"),
        ReleaseKpi.UNSUPPORTED_OPERATOR_INCIDENCE: (
            kpis.fallback_share(months),
            f"{fallback_sessions:,} of {sessions:,} sessions fell back to the CPU; {cells} cells turned unsupported"
            + _month_trend(months)),
        ReleaseKpi.OBSERVABILITY_COVERAGE: (
            coverage["value"], f"{coverage['covered']:,} of {coverage['active']:,} active devices report every field"),
    }  # fmt: skip


def release_cards_get(*, time_range: TimeRange) -> list[KpiCard]:
    """The release KPI cards, in RELEASE_KPIS order: value, target, met/missed, what it is made of, a drill-down."""
    figures = release_figures(time_range=time_range)
    targets = kpis.release_kpi_targets()
    cards = []
    for spec in kpis.RELEASE_KPIS:
        value, note = figures[spec.key]
        target = targets.get(spec.key)
        status = kpis.release_kpi_status(value=value, target=target, higher_is_better=spec.higher_is_better)
        cards.append(
            KpiCard(str(spec.key), spec.label, value, spec.unit, target, _target_text(spec, target), status,
                    _display(value, spec.unit), note=note, link=drill_down_url(spec.key, time_range))
        )  # fmt: skip
    return cards


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False


def _link(path: str, text) -> dict:
    return {"href": path, "text": text}


def release_kpi_rows(*, kpi: str, time_range: TimeRange) -> tuple[list[Column], list[dict], str]:
    """The rows behind one release KPI's figure (columns, rows as {column key: value or {href, text}}, summary)."""
    start, end = time_range.start, time_range.end
    if kpi == ReleaseKpi.DEPLOYMENT_LEAD_TIME:
        result = kpis.deployment_lead_time(start=start, end=end)
        columns = [Column("rollout", "Rollout"), Column("candidate", "Candidate"), Column("created_at", "Version created"),
                   Column("started_at", "Rollout started"), Column("first_session_at", "First candidate session"),
                   Column("hours", "Lead time (h)", True)]  # fmt: skip
        rows = [{**row, "rollout": _link(f"/rollouts/{row['rollout']}/", row["name"])} for row in result["rows"]]
        summary = f"median {result['median_hours']} h, p90 {result['p90_hours']} h over {result['rollouts']} rollouts"
    elif kpi == ReleaseKpi.ROLLOUT_SUCCESS_RATE:
        result = kpis.rollout_success_rate(start=start, end=end)
        columns = [Column("rollout", "Rollout"), Column("status", "Status"), Column("started_at", "Started"),
                   Column("ended_at", "Ended")]  # fmt: skip
        rows = [{**row, "rollout": _link(f"/rollouts/{row['id']}/", row["name"])} for row in result["rows"]]
        summary = f"{result['completed']} of {result['ended']} ended rollouts completed"
    elif kpi == ReleaseKpi.MTTR:
        result = kpis.mttr(start=start, end=end)
        columns = [Column("kind", "Kind"), Column("title", "Incident"), Column("opened_at", "Opened / first seen"),
                   Column("resolved_at", "Resolved"), Column("hours", "Hours to resolve", True)]  # fmt: skip
        rows = [
            {**row, "title": _link(f"/crashes/{row['id']}/", row["title"]) if row["kind"] == "crash_group" else row["title"]}
            for row in result["rows"]
        ]  # fmt: skip
        summary = f"median {result['median_hours']} h, p90 {result['p90_hours']} h over {result['incidents']} incidents"
    elif kpi == ReleaseKpi.DEFECT_ESCAPE_RATE:
        result = kpis.defect_escape_rate(start=start, end=end)
        columns = [Column("label", "Candidate version"), Column("rollout_started_at", "Rollout started"),
                   Column("crash_groups", "New crash groups", True), Column("alerts", "KPI alerts", True),
                   Column("guardrail_failures", "Guardrail failures", True), Column("field", "Field defects", True),
                   Column("regressions", "Lab regressions", True), Column("failed_runs", "Failed lab runs", True),
                   Column("lab", "Lab defects", True)]  # fmt: skip
        rows = result["versions"]
        summary = f"{result['field']} field defects, {result['lab']} lab defects: escape rate {result['value']}"
    elif kpi == ReleaseKpi.UNSUPPORTED_OPERATOR_INCIDENCE:
        rows = kpis.unsupported_operator_incidence(start=start, end=end)
        columns = [Column("month", "Month (UTC)"), Column("unsupported_cells", "Cells turned unsupported", True),
                   Column("sessions_with_fallback_ops", "Sessions with fallback ops", True),
                   Column("sessions", "Sessions", True), Column("fallback_share", "Fallback share", True)]  # fmt: skip
        summary = f"fallback share over the range {kpis.fallback_share(rows)}"
    elif kpi == ReleaseKpi.OBSERVABILITY_COVERAGE:
        result = kpis.observability_coverage(start=start, end=end)
        columns = [Column("device", "Device"), Column("device_model", "Device model"),
                   Column("sessions", "Sessions lacking a field", True), Column("lacking", "Fields missing")]  # fmt: skip
        rows = [
            {**row, "device": _link(f"/fleet/devices/{row['device']}/", row["device"]), "lacking": ", ".join(row["lacking"])}
            for row in kpis.observability_gaps(start=start, end=end)
        ]  # fmt: skip
        summary = (f"{result['covered']} of {result['active']} active devices report every field; "
                   f"{result['active'] - result['covered']} devices lack one (listed, at most 200)")  # fmt: skip
    else:
        raise KeyError(kpi)
    return columns, rows, summary
