"""Rollout reads: the list and detail querysets, and the version a device should run (the assignment)."""

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from compat.models import MLModel, ModelVersion

from . import field
from .assignment import Arm, device_arm, scope_contains
from .models import ENDED_STATUSES, LIVE_STATUSES, Rollout, RolloutDecision, RolloutStatus


def rollouts_list() -> QuerySet[Rollout]:
    """Every rollout with what its API object and the list page show, in a fixed number of queries."""
    return Rollout.objects.select_related("ml_model", "baseline_version", "candidate_version").prefetch_related(
        Prefetch("decisions", queryset=RolloutDecision.objects.order_by("at", "id"))
    )


class UnknownModel(Exception):
    pass


def assignment_get(*, model_slug: str, device_uid: str) -> dict:
    """Which version of `model_slug` the device should run now (API.md: GET /api/v1/rollouts/assignment/).

    A live rollout whose scope holds the device decides by the device's arm (paused keeps every arm as it was).
    Otherwise the most recently ended rollout whose scope holds it: its candidate if completed, its baseline if
    rolled back. A device outside every scope gets the newest completed version, or else the newest known version.
    """
    ml_model = MLModel.objects.filter(slug=model_slug).first()
    if ml_model is None:
        raise UnknownModel(model_slug)
    ttl = settings.ROLLOUT_ASSIGNMENT_TTL_S
    cohort = field.device_cohort(uid=device_uid)
    rollouts = list(
        Rollout.objects.filter(ml_model=ml_model, status__in=(*LIVE_STATUSES, *ENDED_STATUSES))
        .select_related("baseline_version", "candidate_version")
        .order_by("-ended_at", "-id")
    )
    for rollout in rollouts:
        if rollout.status in LIVE_STATUSES and scope_contains(rollout.scope, cohort):
            arm = device_arm(
                rollout_id=rollout.pk,
                device_uid=device_uid,
                percent=rollout.percent,
                control_percent=rollout.control_percent,
            )
            version = rollout.candidate_version if arm == Arm.CANDIDATE else rollout.baseline_version
            return _answer(model_slug, version.version, rollout.pk, arm, rollout.stage, ttl)
    ended = sorted((r for r in rollouts if r.status in ENDED_STATUSES), key=lambda r: (r.ended_at, r.pk), reverse=True)
    for rollout in ended:
        if scope_contains(rollout.scope, cohort):
            completed = rollout.status == RolloutStatus.COMPLETED
            version = rollout.candidate_version if completed else rollout.baseline_version
            return _answer(model_slug, version.version, rollout.pk, Arm.NONE, rollout.stage, ttl)
    completed = [r for r in ended if r.status == RolloutStatus.COMPLETED]
    if completed:
        return _answer(model_slug, completed[0].candidate_version.version, None, Arm.NONE, None, ttl)
    newest = ModelVersion.objects.filter(ml_model=ml_model).order_by("-first_seen_at", "-id").first()
    return _answer(model_slug, newest.version if newest else None, None, Arm.NONE, None, ttl)


def _answer(model: str, version: str | None, rollout: int | None, arm: str, stage: int | None, ttl: int) -> dict:
    return {"model": model, "version": version, "rollout": rollout, "arm": arm, "stage": stage, "ttl_s": ttl}


def rollout_events(*, start, end, model_slug: str | None = None) -> list[dict]:
    """Rollout decisions in [start, end) for time charts (start, advance, pause, resume, rollback, complete):
    [{"at", "rollout", "name", "model", "scope", "action", "stage", "automatic"}], oldest first, one query."""
    decisions = (
        RolloutDecision.objects.filter(at__gte=start, at__lt=end)
        .exclude(action__in=("create", "evaluate"))
        .select_related("rollout__ml_model")
    )
    if model_slug:
        decisions = decisions.filter(rollout__ml_model__slug=model_slug)
    return [
        {"at": d.at, "rollout": d.rollout_id, "name": d.rollout.name, "model": d.rollout.ml_model.slug,
         "scope": d.rollout.scope, "action": d.action, "stage": d.stage, "automatic": d.automatic}
        for d in decisions.order_by("at", "id")
    ]  # fmt: skip
