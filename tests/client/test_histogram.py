import json
import math

import numpy as np
import pytest
from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

from edgeportal_client.histogram import GAMMA, MAX_ABS_KEY, MAX_BUCKETS, LatencyHistogram, bucket_key

QUANTILES = (0.5, 0.95, 0.99)


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(mean=2.5, sigma=0.6, size=n)


def heavy_lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(mean=1.0, sigma=1.5, size=n)


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    # GPU fast path around 12 ms, CPU fallback around 45 ms
    fast = rng.normal(12.0, 1.0, size=n)
    slow = rng.normal(45.0, 5.0, size=n)
    return np.clip(np.where(rng.random(n) < 0.8, fast, slow), 0.05, None)


DISTRIBUTIONS = {"lognormal": lognormal, "heavy_lognormal": heavy_lognormal, "bimodal": bimodal}


def assert_within_one_percent(approx: float, exact: float) -> None:
    assert abs(approx - exact) <= 0.01 * exact, (approx, exact)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_quantiles_of_10k_samples_are_within_one_percent_of_exact(distribution, seed):
    samples = DISTRIBUTIONS[distribution](np.random.default_rng(seed), 10_000)
    histogram = LatencyHistogram.from_samples(samples)
    for q in QUANTILES:
        assert_within_one_percent(histogram.quantile(q), float(np.quantile(samples, q, method="inverted_cdf")))


@pytest.mark.parametrize("distribution", sorted(DISTRIBUTIONS))
def test_quantiles_of_merged_histograms_are_within_one_percent_of_exact_over_concatenated_samples(
    distribution,
):
    rng = np.random.default_rng(42)
    # uneven parts, as devices report different session lengths; 10,000 samples in total
    parts = [DISTRIBUTIONS[distribution](rng, n) for n in (5_000, 2_500, 1_700, 600, 200)]
    merged = LatencyHistogram.merged(LatencyHistogram.from_samples(part) for part in parts)
    everything = np.concatenate(parts)
    assert merged.count == len(everything) == 10_000
    for q in QUANTILES:
        assert_within_one_percent(merged.quantile(q), float(np.quantile(everything, q, method="inverted_cdf")))


def test_quantile_rank_convention_is_numpy_lower_for_any_sample_count():
    samples = heavy_lognormal(np.random.default_rng(7), 1_237)
    histogram = LatencyHistogram.from_samples(samples)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        assert_within_one_percent(histogram.quantile(q), float(np.quantile(samples, q, method="lower")))


def test_quantiles_equal_ddsketch_get_quantile_value_on_the_same_samples():
    samples = list(bimodal(np.random.default_rng(5), 3_001)) + [0.0] * 40
    sketch = DDSketch(0.01)
    for sample in samples:
        sketch.add(sample)
    histogram = LatencyHistogram.from_samples(samples)
    for q in (0.0, 0.005, 0.013, 0.1, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0):
        assert histogram.quantile(q) == pytest.approx(sketch.get_quantile_value(q), rel=1e-12)


def test_bucket_keys_are_ddsketch_logarithmic_mapping_keys_ceil_log_gamma():
    mapping = LogarithmicMapping(0.01)
    assert GAMMA == mapping.gamma
    assert GAMMA == pytest.approx(1.01 / 0.99, rel=1e-15)
    for x in np.geomspace(0.001, 1e6, 5_000):
        key = bucket_key(float(x))
        assert key == mapping.key(float(x))
        # bucket k covers (γ^(k-1), γ^k]; the tolerance only absorbs floating point on a bucket's edge
        assert GAMMA ** (key - 1) * (1 - 1e-12) < x <= GAMMA**key * (1 + 1e-12)


def test_bucket_covers_values_between_consecutive_powers_of_gamma():
    histogram = LatencyHistogram.from_samples([12.1])
    (key,) = histogram.counts
    assert GAMMA ** (key - 1) < 12.1 <= GAMMA**key


def test_zero_and_sub_microsecond_samples_go_to_the_zero_bucket():
    histogram = LatencyHistogram.from_samples([0, 0.0, 0.0009, 0.001, 5.0])
    assert histogram.zero_count == 3
    assert sum(histogram.counts.values()) == 2
    assert histogram.quantile(0.0) == 0.0
    assert histogram.quantile(0.5) == 0.0
    assert histogram.quantile(1.0) == pytest.approx(5.0, rel=0.01)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "12", True, None])
def test_add_rejects_values_that_are_not_latencies(bad):
    with pytest.raises(ValueError):
        LatencyHistogram().add(bad)


def test_empty_histogram_has_no_quantile_and_bad_q_is_an_error():
    assert LatencyHistogram().quantile(0.5) is None
    with pytest.raises(ValueError):
        LatencyHistogram.from_samples([1.0]).quantile(1.5)


def test_merged_leaves_its_inputs_unchanged():
    a = LatencyHistogram.from_samples([1.0, 2.0])
    b = LatencyHistogram.from_samples([0.0, 2.0, 3.0])
    merged = LatencyHistogram.merged([a, b])
    assert merged.count == 5
    assert merged.zero_count == 1
    assert a.count == 2
    assert b.count == 3


def test_wire_round_trip_through_json_keeps_every_count():
    histogram = LatencyHistogram.from_samples([0.0, 0.5, 12.1, 11.8, 30.2, 30.2])
    wire = json.loads(json.dumps(histogram.to_wire()))
    assert wire["gamma"] == GAMMA
    assert all(isinstance(key, str) for key in wire["counts"])
    assert wire["zero_count"] == 1
    assert LatencyHistogram.from_wire(wire) == histogram


def test_zero_count_is_omitted_from_the_wire_when_there_are_no_zero_samples():
    wire = LatencyHistogram.from_samples([12.1]).to_wire()
    assert set(wire) == {"gamma", "counts"}
    assert LatencyHistogram.from_wire(wire).zero_count == 0


def test_from_wire_accepts_the_api_md_example_whose_gamma_differs_in_the_last_digit():
    example = {"gamma": 1.0202020202020203, "counts": {"126": 880, "127": 300, "170": 20}}
    histogram = LatencyHistogram.from_wire(example)
    assert histogram.counts == {126: 880, 127: 300, 170: 20}
    assert histogram.count == 1200


def valid_wire(**changes):
    wire = {"gamma": GAMMA, "counts": {"126": 3}}
    wire.update(changes)
    return wire


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ([1, 2], "must be an object"),
        ({"counts": {}}, "gamma"),
        (valid_wire(gamma=1.02), "gamma must be"),
        (valid_wire(gamma=GAMMA + 2e-9), "gamma must be"),
        (valid_wire(gamma="1.0202"), "gamma must be a number"),
        (valid_wire(gamma=True), "gamma must be a number"),
        (valid_wire(counts=[3]), "counts must be an object"),
        (valid_wire(counts={"126": -1}), "non-negative integer"),
        (valid_wire(counts={"126": 1.5}), "non-negative integer"),
        (valid_wire(counts={"126": "3"}), "non-negative integer"),
        (valid_wire(counts={"126": True}), "non-negative integer"),
        (valid_wire(counts={"126": 2**60}), "non-negative integer"),
        (valid_wire(counts={"1.5": 1}), "not an integer bucket index"),
        (valid_wire(counts={"abc": 1}), "not an integer bucket index"),
        (valid_wire(counts={"0126": 1}), "not an integer bucket index"),
        (valid_wire(counts={str(MAX_ABS_KEY + 1): 1}), "outside"),
        (valid_wire(counts={str(-MAX_ABS_KEY - 1): 1}), "outside"),
        (valid_wire(counts={str(key): 1 for key in range(MAX_BUCKETS + 1)}), "buckets"),
        (valid_wire(zero_count=-2), "zero_count"),
        (valid_wire(zero_count=0.5), "zero_count"),
    ],
)
def test_from_wire_rejects_malformed_histograms_with_a_clear_message(wire, message):
    with pytest.raises(ValueError, match=message):
        LatencyHistogram.from_wire(wire)


def test_from_wire_accepts_gamma_within_tolerance_and_negative_keys():
    histogram = LatencyHistogram.from_wire(valid_wire(gamma=GAMMA + 5e-10, counts={"-300": 2, "0": 1}))
    assert histogram.counts == {-300: 2, 0: 1}
