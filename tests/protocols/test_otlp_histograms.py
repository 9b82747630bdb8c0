"""OTel histograms → the portal histogram: the stated error bounds hold, cumulative states subtract exactly."""

import math
import random

import pytest

from protocols.otlp.histograms import (
    explicit_subtract,
    explicit_to_portal,
    exponential_bound,
    exponential_downscale,
    exponential_subtract,
    exponential_to_portal,
)


def otel_index(x: float, scale: int) -> int:
    """OpenTelemetry's bucket of x at `scale`: (base^i, base^(i+1)] holds x."""
    return math.ceil(math.log2(x) * 2**scale) - 1


def exponential_of(samples: list[float], scale: int) -> dict[int, int]:
    buckets: dict[int, int] = {}
    for x in samples:
        buckets[otel_index(x, scale)] = buckets.get(otel_index(x, scale), 0) + 1
    return buckets


def exact(samples, q):
    return sorted(samples)[int(q * (len(samples) - 1))]


@pytest.mark.parametrize("scale", [5, 6, 8, 10])
def test_every_quantile_is_within_the_stated_bound_of_the_exact_sample(scale):
    rng = random.Random(scale)
    samples = [rng.lognormvariate(2.7, 0.8) for _ in range(20_000)]
    histogram = exponential_to_portal(scale=scale, zero_count=0, buckets=exponential_of(samples, scale), to_ms=1.0)

    worst = max(abs(histogram.quantile(q / 100) / exact(samples, q / 100) - 1) for q in range(1, 100))

    assert worst <= exponential_bound(scale)
    assert exponential_bound(5) < 0.0211 and exponential_bound(6) < 0.016


def test_the_bound_is_tight_enough_to_matter():
    # Samples at the edge of OTel buckets are where the error peaks: the bound is not vacuous.
    scale = 5
    samples = [2 ** ((i + 1e-6) / 2**scale) for i in range(100, 300)]
    histogram = exponential_to_portal(scale=scale, zero_count=0, buckets=exponential_of(samples, scale), to_ms=1.0)

    worst = max(abs(histogram.quantile(q / 100) / exact(samples, q / 100) - 1) for q in range(1, 100))

    assert 0.008 < worst <= exponential_bound(scale)


def test_units_and_zero_bucket_convert():
    histogram = exponential_to_portal(scale=6, zero_count=4, buckets={otel_index(0.012, 6): 10}, to_ms=1000.0)

    assert histogram.zero_count == 4 and histogram.quantile(0.9) == pytest.approx(12.0, rel=0.016)


def test_explicit_buckets_land_inside_their_bounds_narrowed_by_min_and_max():
    histogram = explicit_to_portal(bounds=[0, 5, 10, 25], counts=[0, 2, 6, 2, 0], minimum=3.0, maximum=20.0, to_ms=1)

    assert histogram.count == 10
    assert 3 <= histogram.quantile(0.0) <= 5 * 1.0101  # (0, 5] narrowed to [3, 5]
    assert 10 / 1.0101 <= histogram.quantile(1.0) <= 20 * 1.0101  # (10, 25] narrowed to (10, 20]


def test_downscale_merges_pairs_of_buckets_as_otel_defines_it():
    assert exponential_downscale({-3: 1, -2: 2, -1: 3, 0: 4, 1: 5, 2: 6}, 1) == {-2: 1, -1: 5, 0: 9, 1: 6}


def test_cumulative_subtraction_across_a_scale_change():
    previous = {"scale": 6, "zero": 1, "buckets": {10: 2, 11: 3}}
    current = {"scale": 5, "zero": 2, "buckets": {5: 9, 6: 1}}  # the SDK downscaled as its range grew

    assert exponential_subtract(current, previous) == {"scale": 5, "zero": 1, "buckets": {5: 4, 6: 1}}


def test_a_count_going_down_is_a_reset_not_a_negative_delta():
    assert exponential_subtract({"scale": 5, "zero": 0, "buckets": {1: 1}}, {"scale": 5, "zero": 0,
                                                                          "buckets": {1: 3}}) is None  # fmt: skip
    assert explicit_subtract({"bounds": [1], "counts": [1, 1]}, {"bounds": [1], "counts": [2, 0]}) is None
    assert explicit_subtract({"bounds": [1], "counts": [3, 1]}, {"bounds": [1], "counts": [2, 0]})["counts"] == [1, 1]
