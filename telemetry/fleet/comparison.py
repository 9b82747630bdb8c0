"""Release comparison: is a KPI change between two versions significant for the sample size?

Crash-free sessions: two-proportion z-test. Errors per 1k: a rate test on Poisson counts (pooled rate under H0).
Latency percentiles come from 1 %-accurate histograms, so a change under 1 % is "within histogram accuracy".
"""

import math
from dataclasses import dataclass

ALPHA = 0.05
HISTOGRAM_ACCURACY = 0.01


@dataclass(frozen=True)
class Significance:
    """The verdict on one KPI's change between release A and release B."""

    delta: float | None
    delta_pct: float | None
    p_value: float | None
    verdict: str  # "significant", "not significant", "within histogram accuracy", "changed", "no data"

    @property
    def is_significant(self) -> bool:
        return self.verdict in ("significant", "changed")


def _two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def _pct(a: float, b: float) -> float | None:
    return (b - a) / a * 100 if a else None


def two_proportion_test(*, successes_a: int, total_a: int, successes_b: int, total_b: int) -> Significance:
    """Two-proportion z-test (pooled) of successes_b/total_b against successes_a/total_a."""
    if not total_a or not total_b:
        return Significance(None, None, None, "no data")
    p_a, p_b = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    variance = pooled * (1 - pooled) * (1 / total_a + 1 / total_b)
    if variance == 0:
        # Both samples all-success or all-failure: identical proportions, nothing to test.
        return Significance(p_b - p_a, _pct(p_a, p_b), 1.0, "not significant")
    p_value = _two_sided_p((p_b - p_a) / math.sqrt(variance))
    verdict = "significant" if p_value < ALPHA else "not significant"
    return Significance(p_b - p_a, _pct(p_a, p_b), p_value, verdict)


def poisson_rate_test(
    *, events_a: int, exposure_a: int, events_b: int, exposure_b: int, per: int = 1000
) -> Significance:
    """Compares two Poisson rates (events per `per` units of exposure) with a pooled-rate z-test."""
    if not exposure_a or not exposure_b:
        return Significance(None, None, None, "no data")
    rate_a, rate_b = events_a / exposure_a, events_b / exposure_b
    pooled = (events_a + events_b) / (exposure_a + exposure_b)
    variance = pooled * (1 / exposure_a + 1 / exposure_b)
    delta = (rate_b - rate_a) * per
    if variance == 0:
        return Significance(delta, _pct(rate_a, rate_b), 1.0, "not significant")
    p_value = _two_sided_p((rate_b - rate_a) / math.sqrt(variance))
    verdict = "significant" if p_value < ALPHA else "not significant"
    return Significance(delta, _pct(rate_a, rate_b), p_value, verdict)


def latency_change(*, a_ms: float | None, b_ms: float | None) -> Significance:
    """A percentile from merged 1 %-accuracy histograms: changes under 1 % are not distinguishable."""
    if a_ms is None or b_ms is None or a_ms <= 0:
        return Significance(None, None, None, "no data")
    delta_pct = (b_ms - a_ms) / a_ms * 100
    verdict = "within histogram accuracy" if abs(delta_pct) < HISTOGRAM_ACCURACY * 100 else "changed"
    return Significance(b_ms - a_ms, delta_pct, None, verdict)


def plain_change(*, a: float | None, b: float | None) -> Significance:
    """A change with no sampling test (utilization, memory): reported, not judged."""
    if a is None or b is None:
        return Significance(None, None, None, "no data")
    return Significance(b - a, _pct(a, b), None, "not tested")
