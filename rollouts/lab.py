"""The lab's word on a rollout: open lab regressions on the candidate for the cells it runs (blocks promotion)."""

from django.utils import timezone

from benchmarks.models import Regression, RegressionStatus

from . import field
from .assignment import Arm
from .models import Rollout


def arm_ids(rollout: Rollout) -> dict[str, list[int]]:
    return field.arm_device_ids(
        rollout_id=rollout.pk, scope=rollout.scope, percent=rollout.percent, control_percent=rollout.control_percent
    )


def lab_blocks(*, rollout: Rollout, candidate_ids: list[int] | None = None) -> list[str]:
    """Open lab regressions on the candidate version for a (runtime, delegate, device model) it runs in the field
    (before it has field sessions: on any device model of the scope)."""
    regressions = list(
        Regression.objects.filter(status=RegressionStatus.OPEN, change_run__model_version=rollout.candidate_version)
        .select_related("series__runtime", "series__delegate", "series__device_model")
        .order_by("id")
    )
    if not regressions:
        return []
    if candidate_ids is None:
        candidate_ids = arm_ids(rollout)[Arm.CANDIDATE]
    cells = field.candidate_cells(
        device_ids=candidate_ids,
        model_version_id=rollout.candidate_version_id,
        start=rollout.started_at or timezone.now(),
    )
    scope_models = set(rollout.scope.get("device_model") or [])
    scope_tiers = set(rollout.scope.get("tier") or [])
    blocks = []
    for regression in regressions:
        series = regression.series
        if cells:
            hit = (series.runtime_id, series.delegate_id, series.device_model_id) in cells
        else:
            hit = (not scope_models or series.device_model.slug in scope_models) and (
                not scope_tiers or series.device_model.tier in scope_tiers
            )
        if hit:
            blocks.append(
                f"open lab regression {regression.pk}: {regression.metric} {regression.change_pct:+.1f}% on "
                f"{series.runtime.slug}/{series.delegate.slug}/{series.device_model.slug}"
            )
    return blocks
