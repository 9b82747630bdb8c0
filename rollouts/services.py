"""Every write on a rollout: create, the lifecycle actions, and the audit row each one leaves (API.md Rollouts).

Each action locks the rollout row (select_for_update) and checks its status under the lock, so two concurrent calls
serialize: the second sees the first's result and gets a RolloutConflict instead of acting twice.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from compat.models import MLModel

from .lab import lab_blocks
from .models import ACTIVE_STATUSES, LIVE_STATUSES, Action, Rollout, RolloutDecision, RolloutStatus
from .validation import RolloutInputError, rollout_spec_clean, scopes_overlap

GUARDRAILS_ACTOR = "guardrails"


class RolloutConflict(Exception):
    """The action does not apply to the rollout's current status (HTTP 409)."""

    def __init__(self, message: str, *, status: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Actor:
    """Who acts: a user, an API key (by name) or the guardrails."""

    name: str
    user: Any = None
    automatic: bool = False

    @classmethod
    def from_request(cls, request) -> "Actor":
        user = request.user
        if getattr(user, "pk", None) is not None:
            return cls(name=user.get_username(), user=user)
        return cls(name=str(user))


GUARDRAILS = Actor(name=GUARDRAILS_ACTOR, automatic=True)


def _decision(*, rollout: Rollout, action: str, actor: Actor, reason: str, from_status: str) -> RolloutDecision:
    return RolloutDecision.objects.create(
        rollout=rollout,
        action=action,
        actor=actor.name[:150],
        user=actor.user,
        automatic=actor.automatic,
        reason=reason,
        from_status=from_status,
        to_status=rollout.status,
        stage=rollout.stage,
    )


def rollout_create(*, data: Mapping[str, Any], actor: Actor) -> Rollout:
    """A draft rollout, or RolloutInputError naming every bad field; nothing is written unless all is valid."""
    spec = rollout_spec_clean(data=data)
    with transaction.atomic():
        # Two creates for one model serialize on the model's row, so the overlap check cannot race.
        MLModel.objects.select_for_update().get(pk=spec.ml_model.pk)
        for other in Rollout.objects.filter(ml_model=spec.ml_model, status__in=ACTIVE_STATUSES):
            if scopes_overlap(other.scope, spec.scope):
                raise RolloutInputError(
                    {"scope": [f"overlaps rollout {other.pk} ({other.name!r}, {other.status}) of {spec.ml_model.slug}"]}
                )
        rollout = Rollout.objects.create(
            name=spec.name,
            ml_model=spec.ml_model,
            baseline_version=spec.baseline_version,
            candidate_version=spec.candidate_version,
            scope=spec.scope,
            stages=spec.stages,
            control_percent=spec.control_percent,
            guardrails=spec.guardrails,
            on_failure=spec.on_failure,
            auto_advance=spec.auto_advance,
            created_by=actor.user,
        )
        _decision(rollout=rollout, action=Action.CREATE, actor=actor, reason="", from_status="")
    return rollout


def _locked(rollout_id: int) -> Rollout:
    return Rollout.objects.select_for_update().select_related("ml_model").get(pk=rollout_id)


def _require(rollout: Rollout, action: str, allowed: tuple[str, ...]) -> None:
    if rollout.status not in allowed:
        raise RolloutConflict(
            f"cannot {action} a rollout that is {rollout.status} (only when {' or '.join(allowed)})",
            status=rollout.status,
        )


def _require_reason(action: str, reason: str) -> None:
    if not reason.strip():
        raise RolloutInputError({"reason": [f"a reason is required to {action}"]})


def _transition(
    *, rollout_id: int, action: str, allowed: tuple[str, ...], to_status: str, actor: Actor, reason: str
) -> Rollout:
    with transaction.atomic():
        rollout = _locked(rollout_id)
        _require(rollout, action, allowed)
        from_status, now = rollout.status, timezone.now()
        rollout.status = to_status
        if action == Action.START:
            rollout.started_at = rollout.stage_started_at = now
            rollout.stage = 0
        if to_status in (RolloutStatus.ROLLED_BACK, RolloutStatus.COMPLETED):
            rollout.ended_at = now
        rollout.save()
        _decision(rollout=rollout, action=action, actor=actor, reason=reason, from_status=from_status)
    return rollout


def rollout_start(*, rollout_id: int, actor: Actor, reason: str = "") -> Rollout:
    return _transition(
        rollout_id=rollout_id,
        action=Action.START,
        allowed=(RolloutStatus.DRAFT,),
        to_status=RolloutStatus.RUNNING,
        actor=actor,
        reason=reason,
    )


def rollout_pause(*, rollout_id: int, actor: Actor, reason: str) -> Rollout:
    _require_reason("pause", reason)
    return _transition(
        rollout_id=rollout_id,
        action=Action.PAUSE,
        allowed=(RolloutStatus.RUNNING,),
        to_status=RolloutStatus.PAUSED,
        actor=actor,
        reason=reason,
    )


def rollout_resume(*, rollout_id: int, actor: Actor, reason: str = "") -> Rollout:
    return _transition(
        rollout_id=rollout_id,
        action=Action.RESUME,
        allowed=(RolloutStatus.PAUSED,),
        to_status=RolloutStatus.RUNNING,
        actor=actor,
        reason=reason,
    )


def rollout_rollback(*, rollout_id: int, actor: Actor, reason: str) -> Rollout:
    _require_reason("roll back", reason)
    return _transition(
        rollout_id=rollout_id,
        action=Action.ROLLBACK,
        allowed=LIVE_STATUSES,
        to_status=RolloutStatus.ROLLED_BACK,
        actor=actor,
        reason=reason,
    )


def _promotion_blocks(rollout: Rollout) -> list[str]:
    return lab_blocks(rollout=rollout)


def rollout_advance(*, rollout_id: int, actor: Actor, reason: str = "", expected_stage: int | None = None) -> Rollout:
    """Next stage (a new window for the guardrails). `expected_stage` makes a retried call safe: it must be current."""
    if not actor.automatic:
        _require_reason("advance manually", reason)
    with transaction.atomic():
        rollout = _locked(rollout_id)
        _require(rollout, "advance", (RolloutStatus.RUNNING,))
        if expected_stage is not None and expected_stage != rollout.stage:
            raise RolloutConflict(
                f"the rollout is at stage {rollout.stage}, not {expected_stage}", status=rollout.status
            )
        if rollout.is_last_stage:
            raise RolloutConflict("the rollout is at its last stage: complete it instead", status=rollout.status)
        if blocks := _promotion_blocks(rollout):
            raise RolloutConflict("promotion blocked: " + "; ".join(blocks), status=rollout.status)
        rollout.stage += 1
        rollout.stage_started_at = timezone.now()
        rollout.verdict, rollout.guardrail_results, rollout.arms = None, [], {}
        rollout.save()
        _decision(rollout=rollout, action=Action.ADVANCE, actor=actor, reason=reason, from_status=rollout.status)
    return rollout


def rollout_complete(*, rollout_id: int, actor: Actor, reason: str = "") -> Rollout:
    """Everyone in scope (the control arm too) moves to the candidate; only from the last stage."""
    with transaction.atomic():
        rollout = _locked(rollout_id)
        _require(rollout, "complete", LIVE_STATUSES)
        if not rollout.is_last_stage:
            raise RolloutConflict(
                f"the rollout is at stage {rollout.stage} of {len(rollout.stages)}: advance to the last stage first",
                status=rollout.status,
            )
        if blocks := _promotion_blocks(rollout):
            raise RolloutConflict("promotion blocked: " + "; ".join(blocks), status=rollout.status)
        from_status = rollout.status
        rollout.status, rollout.ended_at = RolloutStatus.COMPLETED, timezone.now()
        rollout.save()
        _decision(rollout=rollout, action=Action.COMPLETE, actor=actor, reason=reason, from_status=from_status)
    return rollout
