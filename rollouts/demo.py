"""Demo data for seed_demo: both simulated rollouts (one completes, one is rolled back), with their decision logs."""

from collections.abc import Callable

from .models import Rollout
from .simulation import MODEL, rollouts_simulate

# Sizes that run the two rollouts. They take ~40 s on a 2-core machine — mostly ~1,300 HTTP requests to the local
# server and building each session's histogram sample by sample, as a device does — against ~1 minute for the
# whole default demo, so `make demo` (standard) leaves them to `SIZE=full` or `manage.py simulate_rollout`.
SIMULATED_SIZES = ("full",)


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


def step(*, size: str, stdout, progress) -> None:
    """Rollouts: a good candidate that completes and a regressing one the guardrails roll back (SIZE=full)."""
    if size not in SIMULATED_SIZES:
        stdout.write(
            f"   skipped at SIZE={size} (~40 s): `make demo SIZE=full`, or `python manage.py simulate_rollout` later"
        )
        return
    seed(progress=lambda line: stdout.write(f"   {line}"))
