"""A stage's verdict from its arms: proceed, hold, fail or blocked (API.md Rollouts). Pure, shared with the simulator."""

from dataclasses import dataclass, field

from .arms import ArmData
from .guardrails import State, guardrails_check, tests_per_stage


class Decision:
    """verdict.decision values (the same strings as models.Decision; kept here so this module needs no Django)."""

    PROCEED, HOLD, FAIL, BLOCKED = "proceed", "hold", "fail", "blocked"


@dataclass
class Verdict:
    decision: str
    reasons: list[str]
    guardrails: list[dict] = field(default_factory=list)


def guardrail_alpha(*, false_failure_budget: float, stages: int, guardrails: list[dict], device_models: int) -> float:
    """Per-test α: the rollout's false-failure budget split evenly (Bonferroni) over every test of every stage."""
    return false_failure_budget / (max(stages, 1) * tests_per_stage(guardrails, device_models))


def _shortfalls(*, stage: dict, stage_hours: float, candidate: ArmData, control: ArmData) -> list[str]:
    reasons = []
    min_sessions, min_hours = stage.get("min_sessions", 0), stage.get("min_hours", 0)
    for name, arm in (("candidate", candidate), ("control", control)):
        if arm.sessions < min_sessions:
            reasons.append(f"{name} has {arm.sessions} of {min_sessions} sessions needed")
    if stage_hours < min_hours:
        reasons.append(f"stage has run {stage_hours:.1f} of {min_hours} hours needed")
    return reasons


def _label(row: dict) -> str:
    where = f" on {row['device_model']}" if row["device_model"] else ""
    driver = f", mostly on {row['driven_by']}" if row.get("driven_by") else ""
    return f"{row['kpi']}{where}: candidate {row['candidate']} vs control {row['control']} (p={row['p_value']}){driver}"


def verdict_compute(
    *,
    stage: dict,
    stage_hours: float,
    candidate: ArmData,
    control: ArmData,
    guardrails: list[dict],
    alpha: float,
    lab_blocks: list[str] = (),
) -> Verdict:
    """Nothing is decided below the stage's minimums; then any failing guardrail fails the stage, an open lab
    regression blocks it, every guardrail passing lets it proceed, and anything else holds."""
    rows = guardrails_check(guardrails=guardrails, candidate=candidate, control=control, alpha=alpha)
    shortfalls = _shortfalls(stage=stage, stage_hours=stage_hours, candidate=candidate, control=control)
    if shortfalls:
        for row in rows:
            row["state"] = State.INSUFFICIENT
        return Verdict(Decision.HOLD, shortfalls + list(lab_blocks), rows)
    failed = [row for row in rows if row["state"] == State.FAIL]
    if failed:
        return Verdict(Decision.FAIL, [f"guardrail failed: {_label(row)}" for row in failed], rows)
    if lab_blocks:
        return Verdict(Decision.BLOCKED, list(lab_blocks), rows)
    waiting = [row for row in rows if row["state"] == State.INSUFFICIENT]
    if waiting:
        reasons = [f"not enough data for {row['kpi']}" + (f" on {row['device_model']}" if row["device_model"] else "")
                   for row in waiting]  # fmt: skip
        return Verdict(Decision.HOLD, reasons, rows)
    return Verdict(Decision.PROCEED, ["stage minimums met and every guardrail passes"], rows)
