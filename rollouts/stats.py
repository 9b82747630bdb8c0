"""Always-valid sequential tests: the mixture SPRT (mSPRT) of Johari, Pekelis & Walsh (2017, "Always valid inference").

For an estimated difference Δ̂ with (plug-in) variance V, a normal mixture N(0, τ²) over the true difference gives the
likelihood ratio Λ = sqrt(V / (V + τ²)) · exp(τ² Δ̂² / (2 V (V + τ²))). Under "no difference", Λ over the data seen so
far is a non-negative martingale, so by Ville's inequality P(Λ ever reaches 1/α) ≤ α, however often one looks.
The always-valid p-value is min(1, 1/Λ). Pure functions (numpy only): the server and perf/rollout_eval.py share them.
"""

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequentialTest:
    """One look of a one-sided always-valid test: `worse` when Δ̂ > 0 and Λ ≥ 1/α."""

    delta: float
    variance: float
    log_lr: float
    p_value: float
    worse: bool


def msprt(*, delta: float, variance: float, tau: float, alpha: float) -> SequentialTest:
    """Mixture SPRT with mixing scale `tau` (the size of difference worth detecting, on Δ̂'s scale)."""
    if not variance > 0 or not math.isfinite(delta) or tau <= 0:
        return SequentialTest(delta=delta, variance=variance, log_lr=0.0, p_value=1.0, worse=False)
    tau2 = tau * tau
    log_lr = 0.5 * math.log(variance / (variance + tau2)) + tau2 * delta * delta / (2 * variance * (variance + tau2))
    p_value = min(1.0, math.exp(-log_lr)) if log_lr > 0 else 1.0
    return SequentialTest(
        delta=delta,
        variance=variance,
        log_lr=log_lr,
        p_value=p_value,
        worse=delta > 0 and log_lr >= math.log(1 / alpha),
    )


def ratio_variance(
    numerators: np.ndarray, weights: np.ndarray, ratio: float, clusters: np.ndarray | None = None
) -> float:
    """Cluster-robust (sandwich) variance of Σy/Σw at `ratio`: Σ_g (Σ_{i∈g} y − r·w)² / (Σw)² · G/(G−1).

    `clusters` (integer codes, one per row) are the independent units — the devices, which the rollout randomizes:
    a device's sessions share its hardware, thermals and usage, so they are not independent of each other. Without
    `clusters` every row is its own cluster. The G/(G−1) factor corrects the estimator's small-sample bias (CR1)."""
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    residual = numerators - ratio * weights
    groups = len(residual)
    if clusters is not None and len(residual):
        groups = int(np.count_nonzero(np.bincount(clusters)))  # codes of a subset may have gaps
        residual = np.bincount(clusters, weights=residual)
    correction = groups / (groups - 1) if groups > 1 else 1.0
    return correction * float(np.dot(residual, residual)) / (total * total)


def wilson_interval(successes: float, trials: float, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (95 % by default)."""
    if trials <= 0:
        return None
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def quantile_rank_interval(n: int, q: float, z: float = 1.96) -> tuple[int, int]:
    """Order-statistic ranks (0-based) bracketing the q-quantile with ~95 % coverage (normal approx. to the binomial)."""
    half = z * math.sqrt(n * q * (1 - q))
    return max(0, math.floor(n * q - half)), min(n - 1, math.ceil(n * q + half))
