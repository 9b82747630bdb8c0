"""Demo data for seed_demo: both simulated rollouts (one completes, one is rolled back), with their decision logs."""

from collections.abc import Callable

from .models import Rollout
from .simulation import MODEL, rollouts_simulate


def seed(progress: Callable[[str], None] | None = None) -> list[int]:
    """Runs the two rollout scenarios unless the demo model already has rollouts; returns their ids."""
    existing = list(Rollout.objects.filter(ml_model__slug=MODEL).values_list("id", flat=True))
    if existing:
        if progress:
            progress(f"rollouts: demo rollouts already there ({existing})")
        return existing
    results = rollouts_simulate(progress=progress)
    if progress:
        for result in results:
            progress(f"rollouts: {result.summary()}")
    return [result.rollout_id for result in results]
