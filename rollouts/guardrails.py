"""Guardrail tests: candidate arm against control arm, one always-valid sequential test per KPI (and device model).

Each KPI maps the two arms to an estimated regression Δ̂ (> 0: the candidate is worse) with a variance, then to the
mSPRT in `stats`. Variances are clustered by device, the unit the rollout randomizes (a device's sessions are not
independent), and never below the model's own (binomial, Poisson). On the whole arms Δ̂ is stratified by device
model — the weighted mean of the per-model differences — so a chance difference in the arms' device mix (one arm
holding more of a slow phone) is not read as a regression of the version.

A guardrail fails only when (1) the sequential test says "worse" at the per-test α (the rollout's false-failure
budget split over stages × tests, Bonferroni), and (2) the estimated regression reaches half the
guardrail's `max_regression` (for p95s also beyond the histograms' 1 % accuracy): a statistically clear but
negligible difference never stops a rollout. Pure functions: the server and perf/rollout_eval.py run the same code.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from edgeportal_client.histogram import RELATIVE_ACCURACY

from .arms import ArmData, histogram_key, merged_latency_histogram, value_keys, values_quantile
from .stats import msprt, ratio_variance

# Two quantiles each within α of the truth can differ by (1+α)/(1−α) − 1 ≈ 2.02 % from histogram error alone.
HISTOGRAM_RATIO_ERROR = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY) - 1
MIN_TEST_SESSIONS = 100
# The mSPRT's mixing scale, on the test's scale: absolute KPIs mix over regressions of about twice `max_regression`
# (the sizes a guardrail is for); the p95 share tests over share shifts of half the relative `max_regression`.
TAU_FACTOR = 2.0  # per arm and slice: below it the normal approximation of the test is not trusted


class State:
    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True)
class Comparison:
    candidate: float | None
    control: float | None
    difference: float | None  # candidate − control (absolute KPIs) or candidate / control − 1 (relative KPIs)
    regression: float  # Δ̂ on the test's scale, > 0 worse
    variance: float
    tau: float  # mixture scale of the mSPRT on the test's scale
    practical: bool  # the estimate is large enough to be worth calling
    driven_by: str | None = None  # whole arms: the device model contributing most to Δ̂ (where to look first)


@dataclass(frozen=True)
class KpiSpec:
    name: str
    relative: bool
    default_max_regression: float
    compare: Callable[[ArmData, ArmData, float], Comparison | None]
    reporting: Callable[[ArmData], int] = lambda arm: arm.sessions  # sessions that report the KPI


def rss_reporting(arm: ArmData) -> int:
    return int(np.count_nonzero(~np.isnan(arm.peak_rss_mb)))


def crash_free(arm: ArmData) -> float | None:
    return None if arm.sessions == 0 else 1 - float(arm.crashed.mean())


def errors_per_1k(arm: ArmData) -> float | None:
    total = float(arm.inferences.sum())
    return None if total <= 0 else 1000 * float(arm.errors.sum()) / total


def accelerator_utilization(arm: ArmData) -> float | None:
    known = ~np.isnan(arm.accelerated_fraction)
    weight = float(arm.inferences[known].sum())
    return None if weight <= 0 else float((arm.accelerated_fraction[known] * arm.inferences[known]).sum()) / weight


def p95_latency(arm: ArmData) -> float | None:
    return arm.latency_histogram().quantile(0.95)


def peak_rss_p95(arm: ArmData) -> float | None:
    return values_quantile(arm.peak_rss_mb, 0.95)


def _clustered(y: np.ndarray, weights: np.ndarray, arm: ArmData, rows=slice(None)) -> float:
    """Device-clustered variance of one arm's Σy/Σw (`rows` selects the arm's sessions). At the arm's own ratio, not
    the pooled one: under a real difference the pooled ratio's offset, summed over a device's sessions and squared,
    would swamp the variance and hide the very regression being tested."""
    total = float(weights.sum())
    ratio = float(y.sum()) / total if total > 0 else 0.0
    return ratio_variance(y, weights, ratio, arm.device_codes[rows])


def _crash(candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    n1, n0 = candidate.sessions, control.sessions
    if n1 == 0 or n0 == 0:
        return None
    p1, p0 = float(candidate.crashed.mean()), float(control.crashed.mean())
    pooled = float(candidate.crashed.sum() + control.crashed.sum()) / (n1 + n0)
    delta = p1 - p0  # crash rate up = crash-free down
    binomial = pooled * (1 - pooled) * (1 / n1 + 1 / n0)
    clustered = sum(_clustered(arm.crashed.astype(float), np.ones(arm.sessions), arm) for arm in (candidate, control))
    return Comparison(
        candidate=1 - p1,
        control=1 - p0,
        difference=p0 - p1,
        regression=delta,
        variance=max(binomial, clustered),
        tau=TAU_FACTOR * max_regression,
        practical=delta >= max_regression / 2,
    )


def _errors(candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    e1, e0 = float(candidate.inferences.sum()), float(control.inferences.sum())
    if e1 <= 0 or e0 <= 0:
        return None
    pooled = (candidate.errors.sum() + control.errors.sum()) / (e1 + e0)
    # Poisson rate test, widened to the sandwich variance when errors cluster in devices (overdispersion).
    poisson = pooled * (1 / e1 + 1 / e0)
    sandwich = _clustered(candidate.errors, candidate.inferences, candidate) + _clustered(
        control.errors, control.inferences, control
    )
    delta = 1000 * (candidate.errors.sum() / e1 - control.errors.sum() / e0)
    return Comparison(
        candidate=1000 * candidate.errors.sum() / e1,
        control=1000 * control.errors.sum() / e0,
        difference=delta,
        regression=delta,
        variance=1e6 * max(poisson, sandwich),
        tau=TAU_FACTOR * max_regression,
        practical=delta >= max_regression / 2,
    )


def _share_variance(above: np.ndarray, weights: np.ndarray, pooled: float, arm: ArmData, rows=slice(None)) -> float:
    binomial = pooled * (1 - pooled) / max(float(weights.sum()), 1.0)
    return max(_clustered(above, weights, arm, rows), binomial)


def _relative(candidate_value, control_value, max_regression: float) -> tuple[float | None, bool]:
    if not candidate_value or not control_value:
        return None, False
    difference = candidate_value / control_value - 1
    return difference, difference >= max(max_regression / 2, HISTOGRAM_RATIO_ERROR)


def _latency(candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    # The test is on the share of each arm's inferences above the pooled p95: under "no difference" the arms are
    # exchangeable, so the shares differ only by sampling noise (devices as clusters), and the count is exact on
    # the histogram grid. The p95s themselves are reported and gate the call against the histograms' accuracy.
    pooled_p95 = merged_latency_histogram(candidate, control).quantile(0.95)
    key = histogram_key(pooled_p95)
    if key is None:
        return None
    a1, a0 = candidate.latency_above(key), control.latency_above(key)
    n1, n0 = candidate.latency_samples, control.latency_samples
    if n1.sum() == 0 or n0.sum() == 0:
        return None
    pooled = float(a1.sum() + a0.sum()) / float(n1.sum() + n0.sum())
    p95_1, p95_0 = p95_latency(candidate), p95_latency(control)
    difference, practical = _relative(p95_1, p95_0, max_regression)
    return Comparison(
        candidate=p95_1,
        control=p95_0,
        difference=difference,
        regression=float(a1.sum() / n1.sum() - a0.sum() / n0.sum()),
        variance=_share_variance(a1, n1, pooled, candidate) + _share_variance(a0, n0, pooled, control),
        tau=0.5 * max_regression,
        practical=practical,
    )


def _rss(candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    k1, k0 = ~np.isnan(candidate.peak_rss_mb), ~np.isnan(control.peak_rss_mb)
    v1, v0 = candidate.peak_rss_mb[k1], control.peak_rss_mb[k0]
    if len(v1) == 0 or len(v0) == 0:
        return None
    key = histogram_key(values_quantile(np.concatenate([v1, v0]), 0.95))
    a1, a0 = (value_keys(v1) > key).astype(float), (value_keys(v0) > key).astype(float)
    pooled = float(a1.sum() + a0.sum()) / (len(v1) + len(v0))
    variance = _share_variance(a1, np.ones(len(a1)), pooled, candidate, k1) + _share_variance(
        a0, np.ones(len(a0)), pooled, control, k0
    )
    p95_1, p95_0 = values_quantile(v1, 0.95), values_quantile(v0, 0.95)
    difference, practical = _relative(p95_1, p95_0, max_regression)
    return Comparison(
        candidate=p95_1,
        control=p95_0,
        difference=difference,
        regression=float(a1.mean() - a0.mean()),
        variance=variance,
        tau=0.5 * max_regression,
        practical=practical,
    )


def _accelerator(candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    m1, m0 = accelerator_utilization(candidate), accelerator_utilization(control)
    if m1 is None or m0 is None:
        return None
    k1, k0 = ~np.isnan(candidate.accelerated_fraction), ~np.isnan(control.accelerated_fraction)
    w1, w0 = candidate.inferences[k1], control.inferences[k0]
    y1, y0 = candidate.accelerated_fraction[k1] * w1, control.accelerated_fraction[k0] * w0
    delta = m0 - m1  # utilization down = worse
    return Comparison(
        candidate=m1,
        control=m0,
        difference=m1 - m0,
        regression=delta,
        variance=_clustered(y1, w1, candidate, k1) + _clustered(y0, w0, control, k0),
        tau=TAU_FACTOR * max_regression,
        practical=delta >= max_regression / 2,
    )


KPI_SPECS: dict[str, KpiSpec] = {
    spec.name: spec
    for spec in (
        KpiSpec("crash_free_sessions", relative=False, default_max_regression=0.002, compare=_crash),
        KpiSpec("errors_per_1k", relative=False, default_max_regression=0.5, compare=_errors),
        KpiSpec("p95_latency_ms", relative=True, default_max_regression=0.10, compare=_latency),
        KpiSpec("peak_rss_mb_p95", relative=True, default_max_regression=0.10, compare=_rss, reporting=rss_reporting),
        KpiSpec("accelerator_utilization", relative=False, default_max_regression=0.05, compare=_accelerator),
    )
}
KPI_VALUES: dict[str, Callable[[ArmData], float | None]] = {
    "crash_free_sessions": crash_free,
    "errors_per_1k": errors_per_1k,
    "p95_latency_ms": p95_latency,
    "peak_rss_mb_p95": peak_rss_p95,
    "accelerator_utilization": accelerator_utilization,
}


def tests_per_stage(guardrails: list[dict], device_models: int) -> int:
    """How many tests one evaluation runs: the α of each is the rollout's budget over stages × this."""
    return sum(1 + (device_models if g.get("per_device_model") else 0) for g in guardrails) or 1


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def stratified_compare(spec: KpiSpec, candidate: ArmData, control: ArmData, max_regression: float) -> Comparison | None:
    """The whole arms' comparison with Δ̂ and its variance stratified by device model: Δ̂ = Σ w_m·Δ̂_m, V = Σ w_m²·V_m,
    w_m the model's share of both arms' sessions. Only models present in both arms are compared; the reported values
    and the practical gate stay the whole arms' (what users of the version see)."""
    whole = spec.compare(candidate, control, max_regression)
    candidate_models, control_models = candidate.by_device_model(), control.by_device_model()
    if whole is None or (len(candidate_models) <= 1 and candidate_models.keys() == control_models.keys()):
        return whole
    strata = []
    for model in sorted(candidate_models.keys() & control_models.keys()):
        part = spec.compare(candidate_models[model], control_models[model], max_regression)
        if part is not None:
            strata.append((candidate_models[model].sessions + control_models[model].sessions, part, model))
    if not strata:
        return None
    total = sum(weight for weight, _, _ in strata)
    contributions = {model: weight / total * part.regression for weight, part, model in strata}
    driver = max(contributions, key=contributions.get)
    return replace(
        whole,
        regression=sum(contributions.values()),
        variance=sum((weight / total) ** 2 * part.variance for weight, part, _ in strata),
        driven_by=driver if contributions[driver] > 0 else None,
    )


def guardrail_check(
    *, guardrail: dict, candidate: ArmData, control: ArmData, alpha: float, device_model: str | None = None
) -> dict:
    """One guardrail on one slice: the API's guardrail row (kpi, state, candidate, control, difference, p_value)."""
    spec = KPI_SPECS[guardrail["kpi"]]
    row = {"kpi": spec.name, "state": State.INSUFFICIENT, "candidate": None, "control": None, "difference": None,
           "p_value": None, "device_model": device_model, "driven_by": None}  # fmt: skip
    if spec.reporting(candidate) < MIN_TEST_SESSIONS or spec.reporting(control) < MIN_TEST_SESSIONS:
        return row
    compare = spec.compare if device_model else partial(stratified_compare, spec)
    comparison = compare(candidate, control, guardrail["max_regression"])
    if comparison is None:
        return row
    test = msprt(delta=comparison.regression, variance=comparison.variance, tau=comparison.tau, alpha=alpha)
    failed = test.worse and comparison.practical
    row.update(
        state=State.FAIL if failed else State.PASS,
        candidate=_round(comparison.candidate),
        control=_round(comparison.control),
        difference=_round(comparison.difference),
        p_value=_round(test.p_value, 6),
        driven_by=comparison.driven_by if failed else None,
    )
    return row


def guardrails_check(*, guardrails: list[dict], candidate: ArmData, control: ArmData, alpha: float) -> list[dict]:
    """Every guardrail on the whole arms, then per device model where `per_device_model` is set."""
    rows = []
    candidate_models, control_models = None, None
    for guardrail in guardrails:
        rows.append(guardrail_check(guardrail=guardrail, candidate=candidate, control=control, alpha=alpha))
        if not guardrail.get("per_device_model"):
            continue
        if candidate_models is None:
            candidate_models, control_models = candidate.by_device_model(), control.by_device_model()
        for model, candidate_slice in candidate_models.items():
            control_slice = control_models.get(model, ArmData.empty())
            rows.append(
                guardrail_check(
                    guardrail=guardrail,
                    candidate=candidate_slice,
                    control=control_slice,
                    alpha=alpha,
                    device_model=model,
                )
            )
    return rows
