"""The guardrail evaluation of a rollout: read both arms from telemetry, compute the verdict, act on it."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import field
from .assignment import Arm
from .lab import arm_ids, lab_blocks
from .models import Decision, OnFailure, Rollout, RolloutStatus
from .services import GUARDRAILS, rollout_advance, rollout_complete, rollout_pause, rollout_rollback
from .summaries import arm_summary
from .validation import scope_device_model_count
from .verdict import Verdict, guardrail_alpha, verdict_compute


def rollout_verdict(*, rollout: Rollout, now: datetime) -> tuple[Verdict, dict]:
    """The current stage's verdict and both arms' summaries (reads only)."""
    ids = arm_ids(rollout)
    start = rollout.stage_started_at or now
    versions = {Arm.CANDIDATE: rollout.candidate_version_id, Arm.CONTROL: rollout.baseline_version_id}
    arms = {
        name: field.arm_sessions(
            device_ids=ids[name], model_version_id=version, scope=rollout.scope, start=start, end=now
        )
        for name, version in versions.items()
    }
    alpha = guardrail_alpha(
        false_failure_budget=settings.ROLLOUT_FALSE_FAILURE_BUDGET,
        stages=len(rollout.stages),
        guardrails=rollout.guardrails,
        device_models=scope_device_model_count(rollout.scope),
    )
    verdict = verdict_compute(
        stage=rollout.current_stage,
        stage_hours=(now - start).total_seconds() / 3600,
        candidate=arms[Arm.CANDIDATE],
        control=arms[Arm.CONTROL],
        guardrails=rollout.guardrails,
        alpha=alpha,
        lab_blocks=lab_blocks(rollout=rollout, candidate_ids=ids[Arm.CANDIDATE]),
    )
    return verdict, {name: arm_summary(arm) for name, arm in arms.items()}


def _position(rollout: Rollout) -> tuple:
    """What a verdict was computed for: acting on it is right only while the rollout is still there."""
    return rollout.status, rollout.stage, rollout.stage_started_at


def rollout_evaluate(*, rollout_id: int, now: datetime | None = None) -> Rollout:
    """Evaluates a running or paused rollout and stores the verdict; a running one then pauses or rolls back on
    `fail` (as on_failure says) and, with auto_advance, advances (or completes at the last stage) on `proceed`.

    The arms are read (raw sessions of the stage: the heavy part) without holding the rollout's row lock, so a
    user's pause or a second evaluation never waits on them. The lock is taken only to store and act, and only if
    the rollout has not moved since (status, stage, stage start): a verdict for a stage that is gone is dropped —
    two evaluations still never act twice, and a user's action always wins over a stale verdict."""
    now = now or timezone.now()
    snapshot = Rollout.objects.get(pk=rollout_id)
    if snapshot.status not in (RolloutStatus.RUNNING, RolloutStatus.PAUSED):
        return snapshot
    verdict, arms = rollout_verdict(rollout=snapshot, now=now)
    with transaction.atomic():
        rollout = Rollout.objects.select_for_update().get(pk=rollout_id)
        if _position(rollout) != _position(snapshot):
            return rollout
        rollout.verdict = {"decision": verdict.decision, "reasons": verdict.reasons, "evaluated_at": now.isoformat()}
        rollout.guardrail_results, rollout.arms = verdict.guardrails, arms
        rollout.save(update_fields=["verdict", "guardrail_results", "arms", "updated_at"])
        if rollout.status != RolloutStatus.RUNNING:
            return rollout
        reason = "; ".join(verdict.reasons)
        if verdict.decision == Decision.FAIL:
            act = rollout_rollback if rollout.on_failure == OnFailure.ROLLBACK else rollout_pause
            act(rollout_id=rollout.pk, actor=GUARDRAILS, reason=reason)
        elif verdict.decision == Decision.PROCEED and rollout.auto_advance:
            if rollout.is_last_stage:
                rollout_complete(rollout_id=rollout.pk, actor=GUARDRAILS, reason=reason)
            else:
                rollout_advance(rollout_id=rollout.pk, actor=GUARDRAILS, reason=reason, expected_stage=rollout.stage)
    rollout.refresh_from_db()
    return rollout


def live_rollout_ids() -> list[int]:
    return list(Rollout.objects.filter(status=RolloutStatus.RUNNING).order_by("id").values_list("id", flat=True))
