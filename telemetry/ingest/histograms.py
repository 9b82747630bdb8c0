"""Session latency histograms on the ingest path: the device's buckets merged with its raw samples, in the SDK's
wire format, without the SDK's per-value Python checks (msgspec already checked every value; telemetry/wire.py).
"""

import math
from collections.abc import Sequence
from functools import cache
from itertools import chain
from typing import Any

import msgspec
import numpy as np

from edgeportal_client.histogram import (
    _MAPPING,
    GAMMA,
    MAX_ABS_KEY,
    ZERO_THRESHOLD_MS,
    LatencyHistogram,
    bucket_key,
)

from . import wire

_KEY_MULTIPLIER = _MAPPING._multiplier
_FIRST_KEY = bucket_key(ZERO_THRESHOLD_MS)


@cache
def _bucket_floors() -> np.ndarray:
    """floors[i]: the smallest double in bucket _FIRST_KEY + i (floors[0] = ZERO_THRESHOLD_MS), up to MAX_ABS_KEY,
    then +inf. Found with the SDK's own bucket_key (monotonic), so edges are exact whatever numpy's log2 rounds to.
    """
    floors = [ZERO_THRESHOLD_MS]
    for key in range(_FIRST_KEY + 1, MAX_ABS_KEY + 1):
        edge = 2.0 ** ((key - 1) / _KEY_MULTIPLIER)  # within a few ulps of the edge
        while bucket_key(edge) >= key:
            edge = math.nextafter(edge, 0.0)
        while bucket_key(edge) < key:
            edge = math.nextafter(edge, math.inf)
        floors.append(edge)
    return np.array([*floors, math.inf])


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """The SDK's bucket_key of each value (float64, each ≥ ZERO_THRESHOLD_MS, finite), in one numpy pass."""
    floors = _bucket_floors()
    # numpy's log2 may differ from math.log in the last bit: estimate each slot, then settle it on the exact edges.
    slots = np.clip(np.ceil(np.log2(values) * _KEY_MULTIPLIER).astype(np.int64) - _FIRST_KEY, 0, len(floors) - 2)
    while (low := values < floors[slots]).any() | (high := values >= floors[slots + 1]).any():
        slots += high.astype(np.int64) - low
    return slots + _FIRST_KEY


# float64 adds integers exactly while every partial sum stays below this.
_EXACT_FLOAT_INT = 2**53
# Above this many (owner, key) cells a dense bincount would allocate more than it sums: sort the cells instead.
_DENSE_CELLS = 1 << 20


def int_sums(owners: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact sums of non-negative integer `values` per owner (0 … size-1): int64, or Python ints (object) past 2**53."""
    if len(values) and int(values.max()) * len(values) >= _EXACT_FLOAT_INT:  # float64 would round: Python ints
        sums = [0] * size
        for owner, value in zip(owners.tolist(), values.tolist(), strict=True):
            sums[owner] += value
        return np.array(sums, dtype=object)
    return np.bincount(owners, weights=values, minlength=size).astype(np.int64)


def keyed_counts(owners: np.ndarray, keys: np.ndarray, counts: np.ndarray | None, size: int) -> list[dict[int, int]]:
    """Per owner (0 … size-1), {key: sum of its counts} over the cells (owners[i], keys[i], counts[i]); counts None:
    one each. Keys with a zero sum are left out. Integer keys and non-negative counts."""
    if not len(keys):
        return [{} for _ in range(size)]
    first = int(keys.min())
    width = int(keys.max()) - first + 1
    cells = owners.astype(np.int64) * width + (keys - first)
    if size * width <= _DENSE_CELLS:  # the common case: a bincount over every (owner, key) pair
        totals = (
            int_sums(cells, counts, size * width) if counts is not None else np.bincount(cells, minlength=size * width)
        )
        cells = np.flatnonzero(totals)
        totals = totals[cells]
    else:
        cells, inverse = np.unique(cells, return_inverse=True)
        totals = int_sums(inverse, counts, len(cells)) if counts is not None else np.bincount(inverse)
        kept = np.flatnonzero(totals)
        cells, totals = cells[kept], totals[kept]
    cell_owners, cell_keys = np.divmod(cells, width)
    keys_list, totals_list = (cell_keys + first).tolist(), totals.tolist()
    bounds = np.searchsorted(cell_owners, np.arange(size + 1)).tolist()
    return [
        dict(zip(keys_list[start:end], totals_list[start:end], strict=True))
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def samples_histograms(sample_lists: Sequence[Sequence[float]]) -> list[LatencyHistogram]:
    """LatencyHistogram.from_samples of each list, a batch at once; samples msgspec already checked (finite,
    0 ≤ x ≤ 1e12). One numpy pass for every sample of the batch: ~4× cheaper than math.log per sample in Python,
    which was the largest part of the histograms' ingest CPU (a session may carry up to 10,000 raw samples).
    """
    sessions = len(sample_lists)
    lengths = np.fromiter(map(len, sample_lists), np.int64, sessions)
    values = np.fromiter(chain.from_iterable(sample_lists), np.float64, int(lengths.sum()))
    owners = np.repeat(np.arange(sessions), lengths)
    bucketed = values >= ZERO_THRESHOLD_MS
    zero_counts = np.bincount(owners[~bucketed], minlength=sessions).tolist()
    counts = keyed_counts(owners[bucketed], bucket_keys(values[bucketed]), None, sessions)
    return [_histogram_trusted(keyed, zero) for keyed, zero in zip(counts, zero_counts, strict=True)]


def samples_histogram(samples_ms: Sequence[float]) -> LatencyHistogram:
    """LatencyHistogram.from_samples for samples msgspec already checked: same buckets."""
    return samples_histograms([samples_ms])[0]


def _histogram_trusted(counts: dict[int, int], zero_count: int) -> LatencyHistogram:
    # Buckets already in range (msgspec-checked or computed here): skips the constructor's per-key Python checks.
    histogram = LatencyHistogram()
    histogram.counts, histogram.zero_count = counts, zero_count
    return histogram


def session_histogram(
    event: wire.SessionIn, raw: msgspec.Raw | None, samples: LatencyHistogram | None = None
) -> dict[str, Any]:
    """The session's histogram in the SDK wire format: the device's buckets merged with its raw samples (`samples`:
    their histogram, when the caller bucketed a whole batch's at once)."""
    sent = event.latency_histogram
    if sent is not None and 0 in sent.counts and (raw is None or b'"-0"' in bytes(raw)):
        if raw is None:  # decoded without its raw text: the caller retries event by event
            raise NeedsRaw

        # The one key msgspec reads as an int but from_wire refuses: let the SDK's parser say why.
        LatencyHistogram.from_wire(msgspec.json.decode(raw)["latency_histogram"])
    # The wire format as is: int keys encode as strings, and jsonb keeps its own key order whatever ours.
    if event.latency_ms:
        samples = samples if samples is not None else samples_histogram(event.latency_ms)
        counts, zero_count = samples.counts, samples.zero_count  # a fresh dict: merged into in place
        if sent:
            for key, count in sent.counts.items():
                if count:
                    counts[key] = counts.get(key, 0) + count
            zero_count += sent.zero_count
    else:
        counts = sent.counts if sent else {}
        if 0 in counts.values():
            counts = {key: count for key, count in counts.items() if count}
        zero_count = sent.zero_count if sent else 0
    histogram = {"gamma": GAMMA, "counts": counts}
    if zero_count:
        histogram["zero_count"] = zero_count
    return histogram


class NeedsRaw(Exception):
    """A bucket key 0 needs the event's raw text to tell "-0" (refused by the SDK) from "0"."""
