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


def samples_histograms(sample_lists: Sequence[Sequence[float]]) -> list[LatencyHistogram]:
    """LatencyHistogram.from_samples of each list, a batch at once; samples msgspec already checked (finite,
    0 ≤ x ≤ 1e12). One numpy pass for every sample of the batch: ~4× cheaper than math.log per sample in Python,
    which was the largest part of the histograms' ingest CPU (a session may carry up to 10,000 raw samples).
    """
    floors, sessions = _bucket_floors(), len(sample_lists)
    lengths = np.fromiter(map(len, sample_lists), np.int64, sessions)
    values = np.fromiter(chain.from_iterable(sample_lists), np.float64, int(lengths.sum()))
    owners = np.repeat(np.arange(sessions), lengths)
    bucketed = values >= ZERO_THRESHOLD_MS
    zero_counts = np.bincount(owners[~bucketed], minlength=sessions).tolist()
    values, owners = values[bucketed], owners[bucketed]
    if not len(values):
        return [_histogram_trusted({}, zero) for zero in zero_counts]
    # numpy's log2 may differ from math.log in the last bit: estimate each slot, then settle it on the exact edges.
    slots = np.clip(np.ceil(np.log2(values) * _KEY_MULTIPLIER).astype(np.int64) - _FIRST_KEY, 0, len(floors) - 2)
    while (low := values < floors[slots]).any() | (high := values >= floors[slots + 1]).any():
        slots += high.astype(np.int64) - low
    # Count (session, slot) pairs: a bincount over the batch's span of slots, split back by session.
    first, width = int(slots.min()), int(slots.max() - slots.min()) + 1
    binned = np.bincount(owners * width + (slots - first), minlength=sessions * width)
    cells = np.flatnonzero(binned)
    cell_owners, cell_slots = np.divmod(cells, width)
    keys, counts = (cell_slots + (first + _FIRST_KEY)).tolist(), binned[cells].tolist()
    bounds = np.searchsorted(cell_owners, np.arange(sessions + 1)).tolist()
    return [
        _histogram_trusted(dict(zip(keys[start:end], counts[start:end], strict=True)), zero)
        for start, end, zero in zip(bounds[:-1], bounds[1:], zero_counts, strict=True)
    ]


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
