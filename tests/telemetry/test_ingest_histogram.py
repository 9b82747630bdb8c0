"""The ingest path's fast histogram checks agree with the SDK's LatencyHistogram, the one definition."""

import math
import random
from collections import Counter

import msgspec
import numpy as np
import pytest

from edgeportal_client.histogram import _MAPPING, GAMMA, LatencyHistogram
from telemetry.ingest import histograms as ingest_histograms
from telemetry.ingest.histograms import samples_histogram, samples_histograms
from telemetry.ingest.wire import HistogramIn

CASES = [
    {"gamma": GAMMA, "counts": {"126": 880, "127": 300, "-3": 2}},
    {"gamma": GAMMA, "counts": {}, "zero_count": 4},
    {"gamma": 1.0202020202020203, "counts": {"7": 1}},  # API.md's spelling, 1 ulp away
    {"gamma": GAMMA, "counts": {"2000": 1, "-2000": 1}},
    {"gamma": 1.5, "counts": {"7": 1}},
    {"gamma": GAMMA, "counts": {"07": 1}},
    {"gamma": GAMMA, "counts": {"+7": 1}},
    {"gamma": GAMMA, "counts": {"2001": 1}},
    {"gamma": GAMMA, "counts": {"7": -1}},
    {"gamma": GAMMA, "counts": {"7": 1.0}},
    {"gamma": GAMMA, "counts": {"7": True}},
    {"gamma": GAMMA, "counts": {"7": 2**53}},
    {"gamma": GAMMA, "counts": {"x": 1}},
    {"gamma": GAMMA, "counts": {"7": 1}, "zero_count": -1},
    {"gamma": GAMMA, "counts": [1, 2]},
    {"gamma": "1.02", "counts": {}},
    {"counts": {"7": 1}},
    {"gamma": GAMMA, "counts": {str(key): 1 for key in range(4097)}},
]


def _sdk_accepts(wire: dict) -> bool:
    try:
        LatencyHistogram.from_wire(wire)
    except ValueError:
        return False
    return True


def _fast_accepts(wire: dict) -> bool:
    try:
        msgspec.json.decode(msgspec.json.encode(wire), type=HistogramIn)
    except msgspec.ValidationError:
        return False
    return True


@pytest.mark.parametrize("wire", CASES, ids=range(len(CASES)))
def test_msgspec_histogram_accepts_exactly_what_from_wire_accepts(wire):
    assert _fast_accepts(wire) is _sdk_accepts(wire)


def test_decoded_buckets_equal_the_sdk_parse():
    wire = {"gamma": GAMMA, "counts": {"126": 880, "127": 300, "-3": 2}, "zero_count": 5}
    decoded = msgspec.json.decode(msgspec.json.encode(wire), type=HistogramIn)
    assert LatencyHistogram(decoded.counts, decoded.zero_count) == LatencyHistogram.from_wire(wire)


def test_samples_histogram_buckets_like_from_samples():
    rng = random.Random(3)
    samples = [rng.lognormvariate(2.5, 1.2) for _ in range(5000)] + [0.0, 0.0004, 0.001, 1e12, 1.0, math.e]
    assert samples_histogram(samples) == LatencyHistogram.from_samples(samples)


def test_samples_histogram_buckets_bucket_boundaries_like_from_samples():
    # Bucket edges (the mapping's own 2^(k / multiplier)) are where a last-bit difference in the logarithm moves a
    # sample to the next bucket: log2(x) instead of log(x, 2) gets ~15 % of these wrong.
    samples = []
    for key in range(-340, 1400):
        value = math.pow(2.0, key / _MAPPING._multiplier)
        for _ in range(3):
            value = math.nextafter(value, 0)
        for _ in range(7):
            samples.append(value)
            value = math.nextafter(value, math.inf)
    assert samples_histogram(samples) == LatencyHistogram.from_samples(samples)


def test_a_batch_of_sample_lists_buckets_each_list_like_from_samples():
    rng = random.Random(5)
    spread = [10 ** rng.uniform(-4, 12) for _ in range(20_000)]  # the whole key range in one batch
    lists = [spread[i : i + 997] for i in range(0, len(spread), 997)]
    lists += [[], [0.0, 0.0005], [1e12, 0.001, 0.0], [rng.lognormvariate(2.5, 0.1) for _ in range(400)], []]

    assert samples_histograms(lists) == [LatencyHistogram.from_samples(samples) for samples in lists]
    assert samples_histograms([[], [0.0]]) == [LatencyHistogram(), LatencyHistogram.from_samples([0.0])]


@pytest.mark.parametrize("dense_cells", [1 << 20, 0], ids=["dense", "sorted"])
@pytest.mark.parametrize("huge", [False, True], ids=["float64-exact", "python-ints"])
def test_keyed_counts_sum_each_owners_counts_per_key(monkeypatch, dense_cells, huge):
    monkeypatch.setattr(ingest_histograms, "_DENSE_CELLS", dense_cells)
    rng = random.Random(7)
    cells = [(rng.randrange(40), rng.randint(-1740, 1740), rng.choice([0, 1, 5, 2**40])) for _ in range(5_000)]
    if huge:  # past float64's exact integers: summed as Python ints
        cells += [(3, 7, 2**53 - 1), (3, 7, 2**53 - 1)]
    owners, keys, counts = (np.array(column, dtype=np.int64) for column in zip(*cells, strict=True))
    expected = [Counter() for _ in range(42)]  # owners 40 and 41 have no cells
    for owner, key, count in cells:
        expected[owner][key] += count

    summed = ingest_histograms.keyed_counts(owners, keys, counts, 42)

    assert summed == [{key: count for key, count in counter.items() if count} for counter in expected]
    assert summed[40] == summed[41] == {}
    assert ingest_histograms.keyed_counts(owners[:0], keys[:0], counts[:0], 2) == [{}, {}]
