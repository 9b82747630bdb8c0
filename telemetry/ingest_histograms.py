"""Session latency histograms on the ingest path: the device's buckets merged with its raw samples, in the SDK's
wire format, without the SDK's per-value Python checks (msgspec already checked every value; telemetry/wire.py).
"""

import math
from collections import Counter
from typing import Any

import msgspec

from edgeportal_client.histogram import _MAPPING, GAMMA, ZERO_THRESHOLD_MS, LatencyHistogram

from . import wire

# bucket_key's own arithmetic (ddsketch LogarithmicMapping.key: int(ceil(log(x, 2) * multiplier) + offset)), inlined:
# a call per sample was ~30 % of ingest CPU. CPython computes log(x, 2) as log(x) / log(2), so dividing by _LN2
# gives the same double without the per-call base handling; with offset 0.0 the int() and + offset are no-ops.
_KEY_MULTIPLIER, _LN2 = _MAPPING._multiplier, math.log(2)
if _MAPPING._offset != 0:
    raise ImportError("samples_histogram assumes the ddsketch mapping's offset is 0")


def samples_histogram(samples_ms: list[float]) -> LatencyHistogram:
    """LatencyHistogram.from_samples for samples msgspec already checked (finite, 0 ≤ x ≤ 1e12): same buckets.

    Skips from_samples' per-sample type checks, which cost more than the bucketing itself on the hot path.
    """
    log, ceil, multiplier, ln2 = math.log, math.ceil, _KEY_MULTIPLIER, _LN2
    keys = [ceil(log(sample) / ln2 * multiplier) for sample in samples_ms if sample >= ZERO_THRESHOLD_MS]
    return _histogram_trusted(dict(Counter(keys)), len(samples_ms) - len(keys))


def _histogram_trusted(counts: dict[int, int], zero_count: int) -> LatencyHistogram:
    # Buckets already in range (msgspec-checked or computed here): skips the constructor's per-key Python checks.
    histogram = LatencyHistogram()
    histogram.counts, histogram.zero_count = counts, zero_count
    return histogram


def session_histogram(event: wire.SessionIn, raw: msgspec.Raw | None) -> dict[str, Any]:
    """The session's histogram in the SDK wire format: the device's buckets merged with its raw samples."""
    sent = event.latency_histogram
    if sent is not None and 0 in sent.counts and (raw is None or b'"-0"' in bytes(raw)):
        if raw is None:  # decoded without its raw text: the caller retries event by event
            raise NeedsRaw

        # The one key msgspec reads as an int but from_wire refuses: let the SDK's parser say why.
        LatencyHistogram.from_wire(msgspec.json.decode(raw)["latency_histogram"])
    # The wire format as is: int keys encode as strings, and jsonb keeps its own key order whatever ours.
    if event.latency_ms:
        samples = samples_histogram(event.latency_ms)
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
