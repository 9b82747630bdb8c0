import math

import pytest

from telemetry.fleet.comparison import latency_change, poisson_rate_test, two_proportion_test


def test_two_proportion_test_matches_the_textbook_z():
    result = two_proportion_test(successes_a=990, total_a=1000, successes_b=970, total_b=1000)
    pooled = 1960 / 2000
    z = (0.97 - 0.99) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert result.verdict == "significant" and result.delta == pytest.approx(-0.02)


def test_a_small_crash_free_change_on_a_small_sample_is_not_significant():
    result = two_proportion_test(successes_a=995, total_a=1000, successes_b=994, total_b=1000)
    assert result.verdict == "not significant" and result.p_value > 0.5


def test_the_same_change_on_a_large_sample_is_significant():
    result = two_proportion_test(successes_a=995_000, total_a=1_000_000, successes_b=994_000, total_b=1_000_000)
    assert result.verdict == "significant"


def test_error_rate_test_uses_the_pooled_poisson_rate():
    result = poisson_rate_test(events_a=10, exposure_a=10_000, events_b=30, exposure_b=10_000)
    assert result.delta == pytest.approx(2.0)  # per 1k: 1.0 -> 3.0
    assert result.verdict == "significant"
    assert (
        poisson_rate_test(events_a=10, exposure_a=10_000, events_b=12, exposure_b=10_000).verdict == "not significant"
    )


@pytest.mark.parametrize("a,b,verdict", [(100.0, 100.5, "within histogram accuracy"), (100.0, 102.0, "changed")])
def test_latency_changes_under_one_percent_are_within_histogram_accuracy(a, b, verdict):
    assert latency_change(a_ms=a, b_ms=b).verdict == verdict


def test_no_data_on_either_side_says_so():
    assert two_proportion_test(successes_a=0, total_a=0, successes_b=1, total_b=1).verdict == "no data"
    assert latency_change(a_ms=None, b_ms=10.0).verdict == "no data"
