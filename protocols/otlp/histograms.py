"""OpenTelemetry histograms as the portal's latency histogram (DDSketch keys, γ = 1.0202), with stated bounds.

Exponential buckets: bucket i of scale s covers (base^i, base^(i+1)], base = 2^(2^-s). Its count goes to the
portal bucket whose representative is nearest the bucket's geometric midpoint. A quantile read back is then
within (2^(2^-(s+1)) · √γ − 1) of the exact sample: 2.1 % at scale 5, 1.6 % at 6, 1.3 % at 7, 1.0 % at ≥ 10
(half an OTel bucket, plus half a portal bucket). Explicit buckets: each count at the geometric midpoint of its
bounds (narrowed by the point's min and max), so a quantile is within √(upper ÷ lower) · √γ − 1 of the exact
value, the width of the bucket that holds it: as coarse as the exporter's boundaries.
"""

import math
from collections.abc import Sequence

from edgeportal_client.histogram import ZERO_THRESHOLD_MS, LatencyHistogram, bucket_key, bucket_value

LN2 = math.log(2)


def _nearest_key(x_ms: float) -> int:
    key = bucket_key(x_ms)
    return min((key - 1, key, key + 1), key=lambda k: abs(math.log(bucket_value(k) / x_ms)))


def _add(histogram: LatencyHistogram, x_ms: float, count: int) -> None:
    if count <= 0:
        return
    if x_ms < ZERO_THRESHOLD_MS:
        histogram.add_zero(count=count)
    else:
        histogram.add(bucket_value(_nearest_key(x_ms)), count)


def exponential_bound(scale: int) -> float:
    """The stated worst-case relative error of a quantile read back from a converted scale-`scale` histogram."""
    gamma = bucket_value(1) / bucket_value(0)
    return 2 ** (2.0 ** -(scale + 1)) * math.sqrt(gamma) - 1


def exponential_to_portal(*, scale: int, zero_count: int, buckets: dict[int, int], to_ms: float) -> LatencyHistogram:
    """`buckets`: {OTel index: count} of the positive range; `to_ms` converts the metric's unit to milliseconds."""
    histogram = LatencyHistogram()
    if zero_count:
        histogram.add_zero(count=zero_count)
    step = LN2 * 2.0**-scale
    for index, count in buckets.items():
        _add(histogram, math.exp((index + 0.5) * step) * to_ms, count)
    return histogram


def explicit_to_portal(
    *, bounds: Sequence[float], counts: Sequence[int], minimum: float | None, maximum: float | None, to_ms: float
) -> LatencyHistogram:
    """Bucket k covers (bounds[k-1], bounds[k]]; the first and last are open, closed by min and max when sent."""
    histogram = LatencyHistogram()
    for k, count in enumerate(counts):
        if not count:
            continue
        lower = bounds[k - 1] if k > 0 else (minimum if minimum is not None else None)
        upper = bounds[k] if k < len(bounds) else (maximum if maximum is not None else None)
        if minimum is not None and lower is not None:
            lower = max(lower, minimum)
        if maximum is not None and upper is not None:
            upper = min(upper, maximum)
        if upper is None:  # the overflow bucket without a max: its lower bound is all that is known
            value = lower or 0.0
        elif lower is None or lower <= 0:
            value = upper / 2 if upper > 0 else 0.0
        else:
            value = math.sqrt(lower * upper)
        _add(histogram, value * to_ms, count)
    return histogram


def exponential_downscale(buckets: dict[int, int], by: int) -> dict[int, int]:
    """The same counts at a scale `by` lower (2^by buckets merged into one): index >> by, as OTel defines it."""
    if by <= 0:
        return dict(buckets)
    out: dict[int, int] = {}
    for index, count in buckets.items():
        out[index >> by] = out.get(index >> by, 0) + count
    return out


def exponential_subtract(current: dict, previous: dict) -> dict | None:
    """current − previous of two cumulative states {scale, zero, buckets}; None when a count went down (a reset)."""
    scale = min(current["scale"], previous["scale"])
    now = exponential_downscale(current["buckets"], current["scale"] - scale)
    before = exponential_downscale(previous["buckets"], previous["scale"] - scale)
    delta = {index: now.get(index, 0) - before.get(index, 0) for index in now.keys() | before.keys()}
    zero = current["zero"] - previous["zero"]
    if zero < 0 or any(count < 0 for count in delta.values()):
        return None
    return {"scale": scale, "zero": zero, "buckets": {k: v for k, v in delta.items() if v}}


def explicit_subtract(current: dict, previous: dict) -> dict | None:
    """current − previous of two cumulative explicit states {bounds, counts}; None on a reset or new bounds."""
    if current["bounds"] != previous["bounds"] or len(current["counts"]) != len(previous["counts"]):
        return None
    delta = [a - b for a, b in zip(current["counts"], previous["counts"], strict=True)]
    return None if any(count < 0 for count in delta) else {**current, "counts": delta}
