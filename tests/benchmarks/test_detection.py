"""Regression detection on benchmark series: E-divisive change points, lookback test, CV (no Django needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from benchmarks.detection import (
    MAX_ANALYSED_RUNS,
    ChangePoint,
    Direction,
    coefficient_of_variation,
    detect_change_points,
    detect_regressions,
    is_unstable,
    lookback_test,
)

LATENCY = Direction.LOWER_IS_BETTER
ACCURACY = Direction.HIGHER_IS_BETTER


def noisy(*levels_and_lengths: tuple[float, int], cv: float = 0.02, seed: int = 0) -> np.ndarray:
    """Piecewise-constant series with Gaussian noise of the given coefficient of variation."""
    rng = np.random.default_rng(seed)
    levels = np.concatenate([np.full(length, level) for level, length in levels_and_lengths])
    return levels * (1.0 + cv * rng.standard_normal(len(levels)))


@pytest.mark.parametrize("seed", range(5))
def test_latency_step_up_is_found_at_the_step_index(seed: int) -> None:
    values = noisy((20.0, 40), (22.0, 40), seed=seed)  # +10 % at CV 2 %

    [change] = detect_change_points(values=values, direction=LATENCY)

    assert change.index == 40
    assert change.method == "e_divisive"
    assert change.change_pct == pytest.approx(10.0, abs=1.5)
    assert change.statistic > 0


@pytest.mark.parametrize("seed", range(5))
def test_step_down_is_found_at_the_step_index(seed: int) -> None:
    values = noisy((100.0, 25), (92.0, 35), cv=0.01, seed=seed)  # −8 %

    [change] = detect_change_points(values=values, direction=LATENCY)

    assert change.index == 25
    assert change.change_pct == pytest.approx(-8.0, abs=1.5)
    assert change.statistic < 0


@pytest.mark.parametrize(
    ("direction", "after_level", "is_regression"),
    [
        (LATENCY, 110.0, True),  # latency up: worse
        (LATENCY, 90.0, False),  # latency down: better
        (ACCURACY, 90.0, True),  # accuracy down: worse
        (ACCURACY, 110.0, False),  # accuracy up: better
    ],
)
def test_regression_flag_follows_the_metric_direction(
    direction: Direction, after_level: float, is_regression: bool
) -> None:
    values = noisy((100.0, 30), (after_level, 30), cv=0.01)

    [change] = detect_regressions(values=values, direction=direction)

    assert change.is_regression is is_regression


def test_direction_may_be_given_as_its_stored_string() -> None:
    values = noisy((100.0, 30), (90.0, 30), cv=0.01)

    [change] = detect_regressions(values=values, direction="higher_is_better")

    assert change.is_regression


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("length", [30, 120])
def test_noise_only_series_at_cv_2_percent_has_no_change_point(seed: int, length: int) -> None:
    values = noisy((50.0, length), cv=0.02, seed=seed)

    assert detect_change_points(values=values, direction=LATENCY) == []
    assert detect_regressions(values=values, direction=LATENCY) == []


def test_significant_shift_below_the_minimum_effect_is_not_flagged() -> None:
    values = noisy((100.0, 40), (103.0, 40), cv=0.005)  # +3 %: t ≈ 27, real but below 5 %

    assert detect_regressions(values=values, direction=LATENCY) == []
    [change] = detect_regressions(values=values, direction=LATENCY, min_effect_pct=2.0)
    assert change.index == 40


def test_excursion_and_recovery_gives_two_change_points() -> None:
    values = noisy((100.0, 30), (115.0, 20), (100.0, 30), cv=0.01)

    changes = detect_change_points(values=values, direction=LATENCY)

    assert [(c.index, c.is_regression) for c in changes] == [(30, True), (50, False)]
    assert changes[0].after_mean == pytest.approx(changes[1].before_mean)


def test_staircase_gives_two_change_points_in_the_same_direction() -> None:
    values = noisy((100.0, 30), (108.0, 30), (118.0, 30), cv=0.01)

    changes = detect_change_points(values=values, direction=ACCURACY)

    assert [c.index for c in changes] == [30, 60]
    assert all(not c.is_regression for c in changes)


def test_short_excursion_inside_a_long_series_is_found() -> None:
    # The whole right side averages out to the left side's level; the Q̂ window (κ) catches it.
    values = noisy((100.0, 60), (85.0, 8), (100.0, 60), cv=0.01)

    changes = detect_change_points(values=values, direction=LATENCY)

    assert [c.index for c in changes] == [60, 68]


def test_p_value_is_the_pooled_t_test_bonferroni_adjusted_for_the_positions_searched() -> None:
    values = noisy((100.0, 20), (106.0, 20), cv=0.02, seed=3)

    [change] = detect_change_points(values=values, direction=LATENCY, min_segment=3)

    expected = stats.ttest_ind(values[20:], values[:20], equal_var=True)
    assert change.statistic == pytest.approx(expected.statistic)
    assert change.p_value == pytest.approx(min(1.0, expected.pvalue * (40 - 2 * 3 + 1)))
    assert change.confidence == pytest.approx(1.0 - change.p_value)
    assert change.before_mean == pytest.approx(values[:20].mean())
    assert change.after_mean == pytest.approx(values[20:].mean())


def test_lookback_flags_a_new_bad_run_against_stable_history() -> None:
    history = noisy((40.0, 30), cv=0.01)

    change = lookback_test(history=history, new_values=[46.0], direction=LATENCY)

    assert isinstance(change, ChangePoint)
    assert change.index == 30
    assert change.method == "lookback"
    assert change.is_regression
    expected_z = (46.0 - history.mean()) / (history.std(ddof=1) * math.sqrt(1 + 1 / 30))
    assert change.statistic == pytest.approx(expected_z)
    assert change.change_pct == pytest.approx((46.0 / history.mean() - 1) * 100)


def test_lookback_ignores_a_normal_new_run_and_a_small_shift() -> None:
    history = noisy((40.0, 30), cv=0.01)

    assert lookback_test(history=history, new_values=[40.3], direction=LATENCY) is None
    # 3 % is many standard deviations at CV 0.1 % but below the 5 % minimum effect
    tight = noisy((40.0, 30), cv=0.001)
    assert lookback_test(history=tight, new_values=[41.2, 41.2], direction=LATENCY) is None


def test_lookback_needs_enough_history() -> None:
    history = noisy((40.0, 4), cv=0.01)

    assert lookback_test(history=history, new_values=[60.0], direction=LATENCY) is None
    assert lookback_test(history=history, new_values=[60.0], direction=LATENCY, min_history=3) is not None


def test_lookback_against_constant_history() -> None:
    assert lookback_test(history=[10.0] * 10, new_values=[10.0], direction=LATENCY) is None
    change = lookback_test(history=[10.0] * 10, new_values=[12.0], direction=LATENCY)
    assert change is not None
    assert change.p_value == 0.0
    assert math.isfinite(change.statistic)


def test_newest_bad_run_is_reported_by_the_lookback_at_its_own_index() -> None:
    values = [*noisy((40.0, 30), cv=0.01), 48.0]

    [change] = detect_regressions(values=values, direction=LATENCY)

    assert (change.index, change.method, change.is_regression) == (30, "lookback", True)


def test_shift_seen_by_both_tests_is_reported_once() -> None:
    values = noisy((40.0, 30), (48.0, 3), cv=0.01)  # 3 new runs: E-divisive sees it; lookback would too

    changes = detect_regressions(values=values, direction=LATENCY)

    assert [(c.index, c.method) for c in changes] == [(30, "e_divisive")]


def test_improvements_can_be_left_out() -> None:
    values = noisy((100.0, 30), (80.0, 30), (95.0, 30), cv=0.01)  # latency down, then partly back up

    everything = detect_regressions(values=values, direction=LATENCY)
    regressions = detect_regressions(values=values, direction=LATENCY, include_improvements=False)

    assert [(c.index, c.is_regression) for c in everything] == [(30, False), (60, True)]
    assert [c.index for c in regressions] == [60]


@pytest.mark.parametrize("values", [[], [5.0], [5.0, 6.0], [7.0] * 50, [math.nan] * 10])
def test_degenerate_series_give_no_change_points(values: list[float]) -> None:
    assert detect_change_points(values=values, direction=LATENCY) == []
    assert detect_regressions(values=values, direction=LATENCY) == []


def test_noise_free_step_is_certain_and_json_safe() -> None:
    [change] = detect_regressions(values=[5.0] * 10 + [6.0] * 10, direction=LATENCY)

    assert (change.index, change.p_value, change.change_pct) == (10, 0.0, pytest.approx(20.0))
    json.dumps(change.__dict__, allow_nan=False)  # raises on inf/nan, as DRF's strict renderer would


def test_change_from_a_zero_mean_is_plus_or_minus_100_percent() -> None:
    [up] = detect_regressions(values=[0.0] * 10 + [3.0] * 10, direction=LATENCY)
    [down] = detect_regressions(values=[0.0] * 10 + [-3.0] * 10, direction=LATENCY)

    assert (up.change_pct, up.is_regression) == (100.0, True)
    assert (down.change_pct, down.is_regression) == (-100.0, False)


def test_non_finite_values_are_ignored_and_indices_stay_in_input_positions() -> None:
    clean = noisy((20.0, 30), (24.0, 30), cv=0.01)
    values: list[float | None] = [*clean[:10], math.nan, *clean[10:30], math.inf, None, *clean[30:]]

    [change] = detect_regressions(values=values, direction=LATENCY)

    assert change.index == 33  # clean index 30, shifted by the NaN, inf and None before it
    assert values[change.index] == clean[30]


def test_detection_is_deterministic() -> None:
    values = noisy((100.0, 50), (107.0, 50), (100.0, 20), cv=0.02, seed=7)

    assert detect_regressions(values=values, direction=LATENCY) == detect_regressions(
        values=list(values), direction=LATENCY
    )


def test_segments_shorter_than_two_runs_are_rejected() -> None:
    with pytest.raises(ValueError):
        detect_change_points(values=[1.0, 2.0, 3.0], direction=LATENCY, min_segment=1)
    with pytest.raises(ValueError):
        lookback_test(history=[1.0, 2.0], new_values=[3.0], direction=LATENCY, min_history=1)


def test_coefficient_of_variation_is_sample_std_over_mean() -> None:
    assert coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    assert coefficient_of_variation([-1.0, -2.0, -3.0]) == pytest.approx(0.5)
    assert coefficient_of_variation([1.0, math.nan, 2.0, 3.0, math.inf]) == pytest.approx(0.5)
    assert coefficient_of_variation([4.0, 4.0]) == 0.0


@pytest.mark.parametrize("values", [[], [3.0], [math.nan, 3.0], [-1.0, 1.0]])
def test_coefficient_of_variation_is_undefined_without_two_values_or_with_zero_mean(
    values: list[float],
) -> None:
    assert coefficient_of_variation(values) is None
    assert is_unstable(values) is False


def test_series_is_unstable_above_5_percent_cv() -> None:
    assert is_unstable(noisy((50.0, 200), cv=0.08)) is True
    assert is_unstable(noisy((50.0, 200), cv=0.02)) is False
    assert is_unstable([95.0, 100.0, 105.0]) is False  # CV exactly 5 %
    assert is_unstable(noisy((50.0, 200), cv=0.02), threshold=0.01) is True


def test_only_the_newest_analysed_runs_are_searched_and_indices_stay_in_input_positions() -> None:
    values = noisy((100.0, 100), (120.0, 1000), (108.0, 100), cv=0.01)  # 1,200 runs, cap is 1,000

    changes = detect_regressions(values=values, direction=LATENCY)

    assert MAX_ANALYSED_RUNS == 1000
    assert [c.index for c in changes] == [1100]  # the step at 100 is older than the newest 1,000 runs


def test_energy_divergence_search_matches_the_textbook_formula() -> None:
    from benchmarks.detection import _edivisive_candidate

    segment = noisy((10.0, 9), (12.0, 6), (10.5, 7), cv=0.05, seed=4)
    min_segment = 3

    def q_hat(x: np.ndarray, y: np.ndarray) -> float:
        # Matteson & James (2014), α = 1: between-mean distance minus the two within-mean distances
        n, m = len(x), len(y)
        between = np.abs(x[:, None] - y[None, :]).mean()
        within_x = np.abs(x[:, None] - x[None, :]).sum() / (n * (n - 1))
        within_y = np.abs(y[:, None] - y[None, :]).sum() / (m * (m - 1))
        return n * m / (n + m) * (2 * between - within_x - within_y)

    scores = {
        (tau, kappa): q_hat(segment[:tau], segment[tau:kappa])
        for tau in range(min_segment, len(segment) - min_segment + 1)
        for kappa in range(tau + min_segment, len(segment) + 1)
    }

    assert _edivisive_candidate(segment, min_segment) == max(scores, key=scores.__getitem__)
