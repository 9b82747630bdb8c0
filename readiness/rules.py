"""Ship readiness: can this model version ship on this device model with this runtime path? Pure rules: facts in,
verdict and reasons out (no Django, no database; `readiness.selectors` gathers the facts).

A *path* is one compat cell: model version × runtime version × delegate × device model. Its verdict is one of
ready, ready with caveats, not ready, not enough evidence. The rules, in order (docs/guide.md shows the same table):

1. Blockers make a path **not ready**: the newest lab run failed to load or convert (and no later run succeeded); a
   manual override says unsupported; a judged KPI misses its target; an open lab regression on the path; an open
   crash group on at least CRASH_GROUP_BLOCKING_SHARE of the path's active devices.
2. With no blocker and no judged evidence (field below its minimum sample and no successful lab run): **not enough
   evidence**. A known blocker still wins over missing evidence: it is already known to be not ready.
3. Caveats make a judged path **ready with caveats**: a KPI at risk (`core.kpi_status`: over 90 % of its
   allowance used); an acknowledged lab regression; an open crash group below the blocking share; no successful
   lab run in the lab window (missing lab evidence); no or too few field sessions (judged on the lab alone); a
   manual override other than unsupported; known issues recorded on the cell.
4. Otherwise **ready**.

Which figure judges a KPI: the field's, when the path has at least `min_sample_sessions` sessions on at least
MIN_FIELD_DEVICES devices in the window; else the newest successful lab run's (latency, memory, accelerator use:
the lab measures no crash-free rate or error rate). Accelerator use is judged on accelerated delegates only.

A device model's verdict is its best path's (the app picks the path that works: as the matrix shows the best
status). A model version's verdict over its device models: not ready when any device model is not ready (the
release would reach it); not enough evidence when no device model has enough; ready when every one is ready;
otherwise ready with caveats (each caveat, and each device model without enough evidence, is a reason).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from core.kpi_status import AT_RISK, MISSED, kpi_status

READY, CAVEATS, NOT_READY, NO_EVIDENCE = "ready", "ready_with_caveats", "not_ready", "not_enough_evidence"
VERDICT_LABELS = {
    READY: "Ready",
    CAVEATS: "Ready with caveats",
    NOT_READY: "Not ready",
    NO_EVIDENCE: "Not enough evidence",
}
VERDICT_GLYPHS = {READY: "✔", CAVEATS: "▲", NOT_READY: "✖", NO_EVIDENCE: "?"}
# Best first, as the matrix ranks statuses: a path without evidence may still work, a not-ready one will not.
VERDICT_RANK = {READY: 0, CAVEATS: 1, NO_EVIDENCE: 2, NOT_READY: 3}
BLOCKER, CAVEAT, GAP = "blocker", "caveat", "gap"  # a reason's weight: blocks, qualifies, or is missing evidence
SEVERITY_LABELS = {BLOCKER: "blocks", CAVEAT: "caveat", GAP: "missing evidence"}

# A crash this widespread on one path is a defect of the path, not noise: one device in fifty. Below it, the group
# is a caveat to triage (the crash-free target already judges how often sessions crash).
CRASH_GROUP_BLOCKING_SHARE = 0.02
# Sessions from one or two devices say more about those devices than about the device model.
MIN_FIELD_DEVICES = 3
CPU = "cpu"  # compat DelegateKind.CPU: a CPU path has no accelerator to use, by design


class TargetsLike(Protocol):
    """The SLO targets the rules read (core.slo.SloTargets has them)."""

    crash_free_sessions: float
    errors_per_1k: float
    accelerator_utilization: float
    memory_budget_fraction: float
    min_sample_sessions: int


@dataclass(frozen=True)
class FieldFacts:
    """The path's field KPIs over the window, from the rollups."""

    sessions: int
    devices: int
    p95_latency_ms: float | None = None
    crash_free_sessions: float | None = None
    errors_per_1k: float | None = None
    accelerator_utilization: float | None = None
    peak_rss_mb_p95: float | None = None
    link: str = ""  # the fleet view filtered to the path and window


@dataclass(frozen=True)
class LabFacts:
    """The path's lab runs in the lab window: successful runs, the newest one's figures, a load failure."""

    runs: int
    run_id: int | None = None
    p95_latency_ms: float | None = None
    peak_memory_mb: float | None = None
    accelerated_fraction: float | None = None
    link: str = ""
    failed_run_id: int | None = None  # the newest run failed and no later run succeeded
    failure_reason: str = ""
    failed_link: str = ""


@dataclass(frozen=True)
class RegressionFacts:
    id: int
    metric: str  # its label ("Latency p95")
    change_pct: float
    status: str  # open or acknowledged (fixed and false positives are not facts)
    link: str = ""


@dataclass(frozen=True)
class CrashGroupFacts:
    """An unresolved crash group seen on the path in the window, with the devices it hit there."""

    id: int
    title: str
    status: str
    devices: int
    events: int
    link: str = ""


@dataclass(frozen=True)
class PathFacts:
    """Everything the verdict of one path reads."""

    delegate_kind: str
    latency_budget_ms: float
    memory_budget_mb: float | None = None
    field: FieldFacts | None = None
    lab: LabFacts | None = None
    regressions: tuple[RegressionFacts, ...] = ()
    crash_groups: tuple[CrashGroupFacts, ...] = ()
    override_status: str = ""
    override_reason: str = ""
    known_issues: str = ""


@dataclass(frozen=True)
class Reason:
    severity: str  # BLOCKER, CAVEAT or GAP
    code: str  # kpi_missed, kpi_at_risk, load_failed, lab_regression, crash_group, no_lab_run, ...
    text: str
    link: str = ""  # the fleet view, run, regression or crash group behind it

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS[self.severity]


@dataclass(frozen=True)
class KpiJudgement:
    """One KPI of a path against its target, and which evidence judged it."""

    kpi: str
    label: str
    value: float
    target: float
    unit: str
    status: str  # core.kpi_status: met, at_risk, missed
    source: str  # field or lab
    link: str = ""

    @property
    def value_text(self) -> str:
        return _show(self.value, self.unit)

    @property
    def target_text(self) -> str:
        return _show(self.target, self.unit)

    @property
    def status_label(self) -> str:
        return self.status.replace("_", " ")


@dataclass(frozen=True)
class Readiness:
    verdict: str
    reasons: tuple[Reason, ...] = ()
    kpis: tuple[KpiJudgement, ...] = ()
    crash_shares: dict[int, float] = field(default_factory=dict)  # crash group id -> share of the path's devices

    @property
    def label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    @property
    def glyph(self) -> str:
        return VERDICT_GLYPHS[self.verdict]


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}".rstrip("0").rstrip(".") + " %"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _show(value: float, unit: str) -> str:
    if unit == "share":
        return _pct(value, 2)
    return f"{_num(value)} {unit}" if unit != "/1k" else f"{value:.2f}/1k"


def field_is_enough(facts: FieldFacts | None, targets: TargetsLike) -> bool:
    return facts is not None and facts.sessions >= targets.min_sample_sessions and facts.devices >= MIN_FIELD_DEVICES


def _sample(facts: FieldFacts) -> str:
    return f"{facts.sessions} session{'s' if facts.sessions != 1 else ''} on {facts.devices} device" + (
        "s" if facts.devices != 1 else ""
    )


def kpis_judge(facts: PathFacts, targets: TargetsLike) -> list[KpiJudgement]:
    """Each KPI with a figure and a target, judged on the field when it has enough sessions, else on the lab."""
    fieldwise = facts.field if field_is_enough(facts.field, targets) else None
    lab = facts.lab if facts.lab and facts.lab.run_id is not None else None
    memory_target = facts.memory_budget_mb * targets.memory_budget_fraction if facts.memory_budget_mb else None
    # (kpi, label, unit, higher is better, target, field attribute, lab attribute)
    specs = [
        ("p95_latency_ms", "p95 latency", "ms", False, facts.latency_budget_ms, "p95_latency_ms", "p95_latency_ms"),
        ("crash_free_sessions", "crash-free sessions", "share", True, targets.crash_free_sessions,
         "crash_free_sessions", None),
        ("errors_per_1k", "errors", "/1k", False, targets.errors_per_1k, "errors_per_1k", None),
        ("peak_rss_mb_p95", "p95 peak memory", "MB", False, memory_target, "peak_rss_mb_p95", "peak_memory_mb"),
    ]  # fmt: skip
    if facts.delegate_kind != CPU:
        specs.append(
            ("accelerator_utilization", "accelerator use", "share", True, targets.accelerator_utilization,
             "accelerator_utilization", "accelerated_fraction"),
        )  # fmt: skip
    judged = []
    for kpi, label, unit, higher, target, field_name, lab_name in specs:
        value, source, link = None, "", ""
        if fieldwise is not None and getattr(fieldwise, field_name) is not None:
            value, source, link = getattr(fieldwise, field_name), "field", fieldwise.link
        elif lab is not None and lab_name and getattr(lab, lab_name) is not None:
            value, source, link = getattr(lab, lab_name), "lab", lab.link
        if value is None or target is None:
            continue
        status = kpi_status(value=value, target=target, higher_is_better=higher)
        judged.append(KpiJudgement(kpi, label, value, target, unit, status, source, link))
    return judged


def _kpi_reason(judgement: KpiJudgement, facts: PathFacts) -> Reason:
    where = _sample(facts.field) if judgement.source == "field" else f"lab run {facts.lab.run_id}"
    value, target = _show(judgement.value, judgement.unit), _show(judgement.target, judgement.unit)
    word = "below" if judgement.kpi in ("crash_free_sessions", "accelerator_utilization") else "over"
    if judgement.status == MISSED:
        return Reason(BLOCKER, "kpi_missed", f"{judgement.label} {value} misses the {target} target ({where})",
                      judgement.link)  # fmt: skip
    return Reason(CAVEAT, "kpi_at_risk", f"{judgement.label} {value} is at risk: over 90 % of the allowance "
                  f"({word} target {target}) used ({where})", judgement.link)  # fmt: skip


def crash_share(group: CrashGroupFacts, facts: PathFacts) -> float:
    """Devices the group hit on the path ÷ the path's active devices (a hit device counts as active)."""
    active = max(facts.field.devices if facts.field else 0, group.devices)
    return group.devices / active if active else 0.0


def path_verdict(facts: PathFacts, *, targets: TargetsLike, lab_window_days: int = 90) -> Readiness:
    """The verdict of one path and its reasons, blockers first (see the module docstring for the rules)."""
    reasons: list[Reason] = []
    lab = facts.lab
    if lab is not None and lab.failed_run_id is not None:
        why = lab.failure_reason.strip().splitlines()[0][:200] if lab.failure_reason.strip() else "no reason given"
        reasons.append(Reason(BLOCKER, "load_failed", f"lab run {lab.failed_run_id} failed: {why}", lab.failed_link))
    if facts.override_status == "unsupported":
        reasons.append(Reason(BLOCKER, "override", f"marked unsupported by hand: {facts.override_reason}"))
    elif facts.override_status:
        reasons.append(Reason(CAVEAT, "override", f"status set to {facts.override_status} by hand: "
                              f"{facts.override_reason}"))  # fmt: skip
    judged = kpis_judge(facts, targets)
    reasons += [_kpi_reason(j, facts) for j in judged if j.status in (MISSED, AT_RISK)]
    for regression in facts.regressions:
        open_ = regression.status == "open"
        reasons.append(
            Reason(
                BLOCKER if open_ else CAVEAT,
                "lab_regression" if open_ else "lab_regression_acknowledged",
                f"{'open' if open_ else 'acknowledged'} lab regression #{regression.id}: {regression.metric} "
                f"{regression.change_pct:+.1f} %",
                regression.link,
            )
        )
    shares = {}
    for group in sorted(facts.crash_groups, key=lambda g: (-g.devices, -g.events, g.id)):
        share = shares[group.id] = crash_share(group, facts)
        active = max(facts.field.devices if facts.field else 0, group.devices)
        reasons.append(
            Reason(
                BLOCKER if share >= CRASH_GROUP_BLOCKING_SHARE else CAVEAT,
                "crash_group",
                f"open crash group #{group.id} “{group.title[:80]}” ({group.status}) on {group.devices} of {active} "
                f"device{'s' if active != 1 else ''} ({_pct(share)}), {group.events} crash"
                f"{'es' if group.events != 1 else ''}",
                group.link,
            )
        )
    has_field = field_is_enough(facts.field, targets)
    has_lab = lab is not None and lab.runs > 0
    if not has_lab:
        reasons.append(Reason(GAP, "no_lab_run", f"no successful lab run in the last {lab_window_days} days"))
    if not has_field:
        if facts.field is None or facts.field.sessions == 0:
            reasons.append(Reason(GAP, "no_field_sessions", "no field sessions in the window"))
        else:
            reasons.append(
                Reason(GAP, "thin_field", f"only {_sample(facts.field)} in the window (needs "
                       f"{targets.min_sample_sessions} sessions on {MIN_FIELD_DEVICES} devices)", facts.field.link)
            )  # fmt: skip
    if facts.known_issues.strip():
        reasons.append(Reason(CAVEAT, "known_issues", f"known issues: {facts.known_issues.strip()[:200]}"))
    order = {BLOCKER: 0, CAVEAT: 1, GAP: 2}
    reasons.sort(key=lambda reason: order[reason.severity])
    if any(reason.severity == BLOCKER for reason in reasons):
        verdict = NOT_READY
    elif not (has_field or has_lab):
        verdict = NO_EVIDENCE
    elif reasons:
        verdict = CAVEATS
    else:
        verdict = READY
    return Readiness(verdict, tuple(reasons), tuple(judged), shares)


def best_path(verdicts: Sequence[Readiness]) -> Readiness:
    """A device model's verdict: its best path's (not enough evidence without any path)."""
    return min(verdicts, key=lambda r: VERDICT_RANK[r.verdict], default=Readiness(NO_EVIDENCE))


def version_verdict(device_models: Sequence[tuple[str, Readiness]]) -> Readiness:
    """A model version's verdict over its device models' (name, verdict) (see the module docstring)."""
    if not device_models:
        return Readiness(NO_EVIDENCE, (Reason(GAP, "no_cells", "no compat cell for this version yet"),))
    verdicts = {verdict.verdict for _, verdict in device_models}

    def first(readiness: Readiness, severity: str) -> str:
        return next((r.text for r in readiness.reasons if r.severity == severity), "")

    reasons = []
    for name, readiness in device_models:
        if readiness.verdict == NOT_READY:
            reasons.append(Reason(BLOCKER, "device_model", f"not ready on {name}: {first(readiness, BLOCKER)}"))
        elif readiness.verdict == NO_EVIDENCE:
            reasons.append(Reason(GAP, "device_model", f"not enough evidence on {name}"))
        elif readiness.verdict == CAVEATS:
            text = first(readiness, CAVEAT) or first(readiness, GAP)
            reasons.append(Reason(CAVEAT, "device_model", f"caveats on {name}: {text}"))
    order = {BLOCKER: 0, CAVEAT: 1, GAP: 2}
    reasons.sort(key=lambda reason: order[reason.severity])
    if NOT_READY in verdicts:
        return Readiness(NOT_READY, tuple(reasons))
    if verdicts == {NO_EVIDENCE}:
        return Readiness(NO_EVIDENCE, tuple(reasons))
    if verdicts == {READY}:
        return Readiness(READY)
    return Readiness(CAVEATS, tuple(reasons))
