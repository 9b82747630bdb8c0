"""Regression detection for lab benchmark series (DESIGN.md "benchmarks": `Regression` records). No Django.

A *series* is one metric of one model × runtime × delegate × device model × config, ordered by build/time,
one float per run. Two complementary tests, both deterministic:

* **E-divisive means with a t-test** (Matteson & James 2014 as adapted by Hunter / Apache Otava, Fleming et
  al. 2023): recursively split each segment at the τ maximising the energy divergence Q̂(X[s:τ], X[τ:κ]) over
  τ and the window end κ; keep the split when a t-test of those two parts is significant at 10 × max_p_value
  ("weak" change points); then *merge*: drop the weakest change point (largest p above ``max_p_value``, else
  smallest |change| below ``min_effect_pct``) and re-test its neighbours against their new adjacent
  segments, until all pass. O(m²) time and memory per split via 2-D prefix sums of |xᵢ − xⱼ|.
* **Lookback z-score** (Conbench / Bencher) for the newest runs, which E-divisive cannot see until
  ``min_segment`` runs follow a change: the mean of the last k runs against up to ``lookback_window`` runs
  since the newest change point, z = (new − μ) / (s·√(1/k + 1/n)) with s the history's standard deviation
  (Conbench's assumption that the spread survives a shift, so a single new run can be judged).

Statistics choices, measured with perf/regression_eval.py on its tuning seed (1), CV 4 % stress suite:
the t-test pools the variance of both sides (Student, as Otava does) rather than Welch's, because a 3–5 run
segment that happens to be tight gets an overconfident Welch p exactly where E-divisive chose to split; and
its p-value is Bonferroni-adjusted by the number of split positions the search could have chosen in that
span, because the split is the most different-looking one. False positives per 100 noise-only series: raw
p 51 (pooled) / 49 (Welch); Welch + Bonferroni 8.9 (recall 0.90); pooled + Bonferroni 3.3 (recall 0.93).
The CV ≤ 2 % target suite scores the same with all four.

Conventions: non-finite values (NaN, ±inf, None: failed or missing runs) are ignored and every index refers
to the position in the caller's input; change points are searched in the newest MAX_ANALYSED_RUNS finite runs
(older shifts were reported when they were new). ``change_pct`` is (after − before)/|before|·100; when before is 0 it
is taken relative to |after| (±100 %) so it stays finite. Statistics are clipped to ±1e9 so a zero-variance
step (constant before and after) is a finite, JSON-safe number with p-value 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

# Defaults tuned with perf/regression_eval.py --seed 1 and reported on its default seed (see that script).
DEFAULT_MIN_EFFECT_PCT = 5.0
DEFAULT_MAX_P_VALUE = 0.01
DEFAULT_MIN_SEGMENT = 3
DEFAULT_Z_THRESHOLD = 4.0
DEFAULT_LOOKBACK_WINDOW = 30
DEFAULT_MIN_HISTORY = 8  # a standard deviation from fewer runs makes z-scores jumpy
MAX_ANALYSED_RUNS = 1000  # E-divisive is O(n²) in memory: ~65 MB and ~0.2 s at 1,000 runs
UNSTABLE_CV = 0.05  # DESIGN.md KPI "benchmark reproducibility": CV of repeated lab runs ≤ 5 %

METHOD_E_DIVISIVE = "e_divisive"
METHOD_LOOKBACK = "lookback"

_WEAK_P_FACTOR = 10.0  # Otava's first pass: 10× looser, so a myopic split does not stop the recursion
_MAX_ABS_STATISTIC = 1e9
_RELATIVE_TOLERANCE = 1e-12  # float noise when averaging identical values must not read as a change


class Direction(StrEnum):
    """Which way a metric gets better: latency/memory/energy are lower-is-better, accuracy higher."""

    LOWER_IS_BETTER = "lower_is_better"
    HIGHER_IS_BETTER = "higher_is_better"


@dataclass(frozen=True)
class ChangePoint:
    """A shift in a series: where the new regime starts, how big, how sure, and whether it is worse."""

    index: int  # first index of the new regime, in the caller's input positions
    before_mean: float
    after_mean: float
    change_pct: float  # (after − before) / |before| · 100
    p_value: float  # e_divisive: Bonferroni-adjusted t-test p; lookback: p of the z-score on t(n − 1)
    statistic: float  # t (e_divisive) or z (lookback); positive when the metric went up
    method: str  # METHOD_E_DIVISIVE | METHOD_LOOKBACK
    is_regression: bool  # worse for this metric's direction; False means an improvement
    confidence: float  # 1 − p_value


@dataclass(frozen=True)
class _Comparison:
    before_mean: float
    after_mean: float
    statistic: float
    p_value: float

    @property
    def change_pct(self) -> float:
        return _change_pct(before=self.before_mean, after=self.after_mean)


def _change_pct(*, before: float, after: float) -> float:
    if before != 0.0:
        return (after - before) / abs(before) * 100.0
    if after == 0.0:
        return 0.0
    return math.copysign(100.0, after)  # from 0: relative to |after|, finite and sign-correct


def _finite(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The finite values as float64 and their positions in the input."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("values must be a one-dimensional sequence of numbers")
    keep = np.isfinite(array)
    return array[keep], np.flatnonzero(keep)


def _newest_finite(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The newest MAX_ANALYSED_RUNS finite values and their input positions."""
    series, positions = _finite(values)
    return series[-MAX_ANALYSED_RUNS:], positions[-MAX_ANALYSED_RUNS:]


def _signed_test(*, diff: float, standard_error: float, df: float, scale: float) -> tuple[float, float]:
    """(statistic, two-sided p) of diff/standard_error on a t distribution, guarding the zero cases."""
    tolerance = _RELATIVE_TOLERANCE * scale
    if abs(diff) <= tolerance:
        return 0.0, 1.0
    if standard_error <= tolerance:  # both sides constant and different: certain, but keep it finite
        return math.copysign(_MAX_ABS_STATISTIC, diff), 0.0
    statistic = float(np.clip(diff / standard_error, -_MAX_ABS_STATISTIC, _MAX_ABS_STATISTIC))
    return statistic, float(2.0 * stats.t.sf(abs(statistic), df))


def _t_test(before: np.ndarray, after: np.ndarray, *, positions: int) -> _Comparison:
    """Pooled-variance t-test of after vs before, p Bonferroni-adjusted for the split positions searched."""
    mean_before, mean_after = float(before.mean()), float(after.mean())
    df = len(before) + len(after) - 2
    pooled = (float(np.sum((before - mean_before) ** 2)) + float(np.sum((after - mean_after) ** 2))) / df
    statistic, p_value = _signed_test(
        diff=mean_after - mean_before,
        standard_error=math.sqrt(pooled * (1.0 / len(before) + 1.0 / len(after))),
        df=df,
        scale=max(abs(mean_before), abs(mean_after)),
    )
    return _Comparison(mean_before, mean_after, statistic, min(1.0, p_value * max(positions, 1)))


def _lookback(history: np.ndarray, new: np.ndarray) -> _Comparison:
    """z of the mean of the new runs against the history, using the history's spread for both."""
    mean_history, mean_new = float(history.mean()), float(new.mean())
    spread = float(history.std(ddof=1))
    statistic, p_value = _signed_test(
        diff=mean_new - mean_history,
        standard_error=spread * math.sqrt(1.0 / len(new) + 1.0 / len(history)),
        df=len(history) - 1,  # prediction test: only the history's variance is estimated
        scale=max(abs(mean_history), abs(mean_new)),
    )
    return _Comparison(mean_history, mean_new, statistic, p_value)


def _edivisive_candidate(segment: np.ndarray, min_segment: int) -> tuple[int, int] | None:
    """(τ, κ) maximising Q̂(segment[:τ], segment[τ:κ]) with both parts ≥ min_segment, or None."""
    size = len(segment)
    if size < 2 * min_segment:
        return None
    distances = np.abs(segment[:, None] - segment[None, :])
    # prefix[a, b] = Σ distances[:a, :b]; every block sum below is four lookups
    prefix = np.zeros((size + 1, size + 1))
    prefix[1:, 1:] = distances.cumsum(axis=0).cumsum(axis=1)
    taus = np.arange(min_segment, size - min_segment + 1)[:, None]
    kappas = np.arange(size + 1)[None, :]
    valid = kappas >= taus + min_segment
    left = taus.astype(np.float64)
    right = np.where(valid, kappas - taus, 2).astype(np.float64)
    corner = prefix[taus, taus]  # Σ within X, both orders
    upper = prefix[taus, kappas]
    between = 2.0 * (upper - corner) / (left * right)
    within_left = corner / (left * (left - 1.0))
    within_right = (np.diag(prefix)[None, :] - 2.0 * upper + corner) / (right * (right - 1.0))
    q_hat = left * right / (left + right) * (between - within_left - within_right)
    q_hat = np.where(valid, q_hat, -np.inf)
    row, kappa = np.unravel_index(int(np.argmax(q_hat)), q_hat.shape)
    return int(taus[row, 0]), int(kappa)


def _split(series: np.ndarray, *, min_segment: int, weak_p_value: float) -> list[int]:
    """Weak change points: recursive E-divisive splits whose two sides differ at weak_p_value."""
    found: list[int] = []
    pending = [(0, len(series))]
    while pending:
        start, end = pending.pop()
        candidate = _edivisive_candidate(series[start:end], min_segment)
        if candidate is None:
            continue
        tau, kappa = candidate
        # test against the window Q̂ chose, so a short excursion inside a long segment is not diluted
        comparison = _t_test(
            series[start : start + tau],
            series[start + tau : start + kappa],
            positions=end - start - 2 * min_segment + 1,
        )
        if comparison.p_value > weak_p_value:
            continue
        found.append(start + tau)
        pending.extend([(start, start + tau), (start + tau, end)])
    return sorted(found)


def _merge(
    series: np.ndarray, indices: list[int], *, max_p_value: float, min_effect_pct: float, min_segment: int
) -> list[tuple[int, _Comparison]]:
    """Drop the weakest change point until all pass; each is tested against its adjacent segments."""
    kept = list(indices)

    def compare(position: int) -> _Comparison:
        start = kept[position - 1] if position > 0 else 0
        end = kept[position + 1] if position + 1 < len(kept) else len(series)
        return _t_test(
            series[start : kept[position]],
            series[kept[position] : end],
            positions=end - start - 2 * min_segment + 1,
        )

    comparisons = [compare(position) for position in range(len(kept))]
    while kept:
        weakest = max(range(len(kept)), key=lambda i: comparisons[i].p_value)
        if comparisons[weakest].p_value <= max_p_value:
            weakest = min(range(len(kept)), key=lambda i: abs(comparisons[i].change_pct))
            if abs(comparisons[weakest].change_pct) >= min_effect_pct:
                break
        del kept[weakest], comparisons[weakest]
        # only the two neighbours' adjacent segments changed
        for position in (weakest - 1, weakest):
            if 0 <= position < len(kept):
                comparisons[position] = compare(position)
    return list(zip(kept, comparisons, strict=True))


def _edivisive(
    series: np.ndarray, *, min_effect_pct: float, max_p_value: float, min_segment: int
) -> list[tuple[int, _Comparison]]:
    """Split with the weak threshold, then merge down to change points that pass both gates."""
    weak = _split(series, min_segment=min_segment, weak_p_value=min(max_p_value * _WEAK_P_FACTOR, 0.5))
    return _merge(series, weak, max_p_value=max_p_value, min_effect_pct=min_effect_pct, min_segment=min_segment)


def _to_change_point(*, index: int, comparison: _Comparison, method: str, direction: Direction) -> ChangePoint:
    worse = (
        comparison.after_mean > comparison.before_mean
        if direction == Direction.LOWER_IS_BETTER
        else comparison.after_mean < comparison.before_mean
    )
    return ChangePoint(
        index=index,
        before_mean=comparison.before_mean,
        after_mean=comparison.after_mean,
        change_pct=comparison.change_pct,
        p_value=comparison.p_value,
        statistic=comparison.statistic,
        method=method,
        is_regression=worse,
        confidence=1.0 - comparison.p_value,
    )


def _check_parameters(*, min_segment: int = 2, min_history: int = 2) -> None:
    if min_segment < 2 or min_history < 2:
        raise ValueError("min_segment and min_history must be at least 2 (a t-test needs a variance)")


def detect_change_points(
    *,
    values: Sequence[float],
    direction: Direction,
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
    min_segment: int = DEFAULT_MIN_SEGMENT,
) -> list[ChangePoint]:
    """E-divisive change points (regressions and improvements) by index; each regime ≥ min_segment runs."""
    _check_parameters(min_segment=min_segment)
    direction = Direction(direction)
    series, positions = _newest_finite(values)
    found = _edivisive(series, min_effect_pct=min_effect_pct, max_p_value=max_p_value, min_segment=min_segment)
    return [
        _to_change_point(
            index=int(positions[index]), comparison=comparison, method=METHOD_E_DIVISIVE, direction=direction
        )
        for index, comparison in found
    ]


def lookback_test(
    *,
    history: Sequence[float],
    new_values: Sequence[float],
    direction: Direction,
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_history: int = DEFAULT_MIN_HISTORY,
) -> ChangePoint | None:
    """The new runs' shift against the matched history if |z| ≥ z_threshold and |change| ≥ min_effect_pct.

    ``index`` is the position of the first new run in ``[*history, *new_values]``; ``statistic`` is the
    lookback z-score and ``p_value`` its two-sided p on Student's t with len(history) − 1 degrees of freedom.
    Returns None when the history has fewer than ``min_history`` finite runs.
    """
    _check_parameters(min_history=min_history)
    reference, _ = _finite(history)
    new, new_positions = _finite(new_values)
    if len(reference) < min_history or len(new) == 0:
        return None
    comparison = _lookback(reference, new)
    if abs(comparison.statistic) < z_threshold or abs(comparison.change_pct) < min_effect_pct:
        return None
    return _to_change_point(
        index=len(history) + int(new_positions[0]),
        comparison=comparison,
        method=METHOD_LOOKBACK,
        direction=Direction(direction),
    )


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Sample standard deviation (ddof=1) / |mean| as a fraction; None below 2 finite values or at mean 0."""
    series, _ = _finite(values)
    if len(series) < 2:
        return None
    mean = float(series.mean())
    if mean == 0.0:
        return None
    return float(series.std(ddof=1)) / abs(mean)


def is_unstable(values: Sequence[float], *, threshold: float = UNSTABLE_CV) -> bool:
    """True when the CV exceeds threshold (0.05 = 5 %); False when the CV is undefined.

    Pass repeated runs of one build, or the runs since the series' newest change point: a real step
    inflates the CV of a whole series.
    """
    cv = coefficient_of_variation(values)
    return cv is not None and cv > threshold


def detect_regressions(
    *,
    values: Sequence[float],
    direction: Direction,
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
    min_segment: int = DEFAULT_MIN_SEGMENT,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    lookback_window: int = DEFAULT_LOOKBACK_WINDOW,
    min_history: int = DEFAULT_MIN_HISTORY,
    include_improvements: bool = True,
) -> list[ChangePoint]:
    """All change points of a series, ordered by index: E-divisive, plus a lookback test of the newest runs.

    E-divisive needs ``min_segment`` runs after a change; the newest k = 1 … min_segment − 1 runs are
    tested with the lookback z-score against up to ``lookback_window`` runs since the newest E-divisive
    change point (the k with the largest |z| wins, so a single bad run is reported at its own index).
    Because that history starts at the newest change point and needs ``min_history`` runs, the two tests
    never report the same shift twice.
    Improvements are returned with ``is_regression=False`` (the UI shows them); pass
    ``include_improvements=False`` to get regressions only.
    """
    _check_parameters(min_segment=min_segment, min_history=min_history)
    direction = Direction(direction)
    series, positions = _newest_finite(values)
    found = [
        (index, comparison, METHOD_E_DIVISIVE)
        for index, comparison in _edivisive(
            series, min_effect_pct=min_effect_pct, max_p_value=max_p_value, min_segment=min_segment
        )
    ]

    newest_regime_start = found[-1][0] if found else 0
    best: tuple[int, _Comparison] | None = None
    for new_count in range(1, min_segment):
        tail_start = len(series) - new_count
        history = series[max(newest_regime_start, tail_start - lookback_window) : tail_start]
        if len(history) < min_history:
            continue
        comparison = _lookback(history, series[tail_start:])
        passes = abs(comparison.statistic) >= z_threshold and abs(comparison.change_pct) >= min_effect_pct
        if passes and (best is None or abs(comparison.statistic) > abs(best[1].statistic)):
            best = (tail_start, comparison)
    if best is not None:
        found.append((*best, METHOD_LOOKBACK))

    change_points = [
        _to_change_point(index=int(positions[index]), comparison=comparison, method=method, direction=direction)
        for index, comparison, method in found
    ]
    return [cp for cp in change_points if include_improvements or cp.is_regression]
