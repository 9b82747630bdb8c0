"""The latency histogram wire format, shared by the device SDK and the server (DESIGN.md "Latency histograms").

A sparse DDSketch-style log-bucket histogram with 1 % relative accuracy (α = 0.01). The key mapping is the
``ddsketch`` package's ``LogarithmicMapping(0.01)``: γ = 1.01 / 0.99, key = ceil(log_γ(x_ms)), bucket ``k``
covers (γ^(k-1), γ^k] and reads back as ``2·γ^k / (1 + γ)``, which is within α of every value in the bucket.
Samples below 0.001 ms (including 0) are counted in a separate zero bucket.

Wire format (API.md ``latency_histogram``)::

    {"gamma": 1.02020202020202, "counts": {"126": 880, "127": 300}, "zero_count": 3}

``counts`` keys are bucket indices as decimal strings, values positive integers; ``zero_count`` is optional
(omitted when 0, read as 0 when absent).

Quantile convention (identical to ``ddsketch.DDSketch.get_quantile_value``): the value at 0-based rank
``floor(q · (n − 1))`` of the sorted samples, i.e. numpy's ``method="lower"``, read back as its bucket's
representative value (0.0 for the zero bucket). For ``q · n`` integral (e.g. p50/p95/p99 of 10,000 samples)
that rank is also numpy's ``"inverted_cdf"`` (nearest-rank) quantile.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
GAMMA: float = _MAPPING.gamma  # 1.02020202020202 (1.01 / 0.99); API.md's 1.0202020202020203 is 1 ulp away
GAMMA_TOLERANCE = 1e-9
ZERO_THRESHOLD_MS = 0.001
MAX_ABS_KEY = 2000  # γ^2000 ≈ 2.4e17 ms: any key beyond this is garbage, not a latency
MAX_BUCKETS = 4096
MAX_COUNT = 2**53 - 1  # largest integer every JSON parser reads exactly

_INT_KEY = re.compile(r"0|-?[1-9][0-9]*")  # canonical only, so "07" and "7" cannot both appear


def _is_int(value: object) -> bool:
    # bool is an int subclass; True must not count as 1 on the wire
    return isinstance(value, int) and not isinstance(value, bool)


def bucket_key(x_ms: float) -> int:
    """Bucket index of a positive latency ≥ ZERO_THRESHOLD_MS (the ddsketch LogarithmicMapping key)."""
    return _MAPPING.key(x_ms)


def bucket_value(key: int) -> float:
    """Representative value of a bucket, within α relative of every value the bucket holds."""
    return _MAPPING.value(key)


class LatencyHistogram:
    """Sparse log-bucket latency histogram (milliseconds) that merges exactly across devices and time."""

    __slots__ = ("counts", "zero_count")

    def __init__(self, counts: Mapping[int, int] | None = None, zero_count: int = 0) -> None:
        self.counts: dict[int, int] = {}
        self.zero_count: int = 0
        if zero_count:
            self.add_zero(count=zero_count)
        for key, count in (counts or {}).items():
            self._add_key(key, count)

    # -- building ------------------------------------------------------------------------------------------

    @classmethod
    def from_samples(cls, samples_ms: Iterable[float]) -> LatencyHistogram:
        """Histogram of raw latency samples in milliseconds."""
        histogram = cls()
        for sample in samples_ms:
            histogram.add(sample)
        return histogram

    def add(self, x_ms: float, count: int = 1) -> None:
        """Count ``count`` samples of latency ``x_ms``."""
        if not isinstance(x_ms, numbers.Real) or isinstance(x_ms, bool) or not math.isfinite(x_ms):
            raise ValueError(f"latency must be a finite number of milliseconds, got {x_ms!r}")
        if x_ms < 0:
            raise ValueError(f"latency must not be negative, got {x_ms!r}")
        if x_ms < ZERO_THRESHOLD_MS:
            self.add_zero(count=count)
            return
        key = bucket_key(x_ms)
        if key > MAX_ABS_KEY:
            raise ValueError(f"latency {x_ms!r} ms is beyond the histogram's range")
        self._add_key(key, count)

    def add_zero(self, *, count: int = 1) -> None:
        """Count ``count`` samples in the zero bucket."""
        if not _is_int(count) or count < 0:
            raise ValueError(f"count must be a non-negative integer, got {count!r}")
        self.zero_count += count

    def _add_key(self, key: int, count: int) -> None:
        if not _is_int(key) or abs(key) > MAX_ABS_KEY:
            raise ValueError(f"bucket key must be an integer within ±{MAX_ABS_KEY}, got {key!r}")
        if not _is_int(count) or count < 0:
            raise ValueError(f"count must be a non-negative integer, got {count!r}")
        if count:
            self.counts[key] = self.counts.get(key, 0) + count

    def merge(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other`` into this histogram (in place)."""
        for key, count in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + count
        self.zero_count += other.zero_count

    @classmethod
    def merged(cls, histograms: Iterable[LatencyHistogram]) -> LatencyHistogram:
        """A new histogram holding the samples of all ``histograms``."""
        result = cls()
        for histogram in histograms:
            result.merge(histogram)
        return result

    # -- reading -------------------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of samples, zero bucket included."""
        return self.zero_count + sum(self.counts.values())

    def quantile(self, q: float) -> float | None:
        """Latency at quantile ``q`` (0..1), within 1 % relative of the sample at rank floor(q·(n−1)); None if empty."""
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be within [0, 1], got {q!r}")
        total = self.count
        if total == 0:
            return None
        rank = q * (total - 1)
        if rank < self.zero_count:
            return 0.0
        running = self.zero_count
        for key in sorted(self.counts):
            running += self.counts[key]
            if running > rank:
                return bucket_value(key)
        return bucket_value(max(self.counts))

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the sorted buckets (the same values as ``quantile`` for each q)."""
        qs = list(qs)
        if len(qs) < 2:
            return [self.quantile(q) for q in qs]
        for q in qs:
            if not 0 <= q <= 1:
                raise ValueError(f"quantile must be within [0, 1], got {q!r}")
        total = self.count
        if total == 0:
            return [None] * len(qs)
        order = sorted(range(len(qs)), key=qs.__getitem__)
        result: list[float | None] = [None] * len(qs)
        keys = iter(sorted(self.counts))
        running, key = self.zero_count, None
        for index in order:
            rank = qs[index] * (total - 1)
            if rank < self.zero_count:
                result[index] = 0.0
                continue
            while running <= rank:
                key = next(keys, None)
                if key is None:
                    break
                running += self.counts[key]
            result[index] = bucket_value(key if key is not None else max(self.counts))
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return self.counts == other.counts and self.zero_count == other.zero_count

    def __repr__(self) -> str:
        return f"LatencyHistogram(buckets={len(self.counts)}, zero_count={self.zero_count}, count={self.count})"

    # -- wire ----------------------------------------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """The API.md ``latency_histogram`` object (``zero_count`` only when non-zero)."""
        wire: dict[str, Any] = {
            "gamma": GAMMA,
            "counts": {str(key): self.counts[key] for key in sorted(self.counts)},
        }
        if self.zero_count:
            wire["zero_count"] = self.zero_count
        return wire

    @classmethod
    def from_wire(cls, wire: object) -> LatencyHistogram:
        """Parse and validate an API.md ``latency_histogram`` object; ValueError says what is wrong."""
        if not isinstance(wire, Mapping):
            raise ValueError("latency_histogram must be an object")  # noqa: TRY004 -- callers catch one error type
        gamma = wire.get("gamma")
        if not isinstance(gamma, (int, float)) or isinstance(gamma, bool) or not math.isfinite(gamma):
            raise ValueError(f"latency_histogram.gamma must be a number, got {gamma!r}")
        if abs(gamma - GAMMA) > GAMMA_TOLERANCE:
            raise ValueError(f"latency_histogram.gamma must be {GAMMA!r} (alpha=0.01), got {gamma!r}")
        counts = wire.get("counts")
        if not isinstance(counts, Mapping):
            raise ValueError("latency_histogram.counts must be an object of bucket index -> count")  # noqa: TRY004
        if len(counts) > MAX_BUCKETS:
            raise ValueError(f"latency_histogram.counts has {len(counts)} buckets, at most {MAX_BUCKETS} allowed")
        zero_count = wire.get("zero_count", 0)
        if not _is_int(zero_count) or not 0 <= zero_count <= MAX_COUNT:
            raise ValueError(f"latency_histogram.zero_count must be a non-negative integer, got {zero_count!r}")
        histogram = cls(zero_count=zero_count)
        for raw_key, count in counts.items():
            if _is_int(raw_key):
                key = raw_key
            elif isinstance(raw_key, str) and _INT_KEY.fullmatch(raw_key):
                key = int(raw_key)
            else:
                raise ValueError(f"latency_histogram.counts key {raw_key!r} is not an integer bucket index")
            if abs(key) > MAX_ABS_KEY:
                raise ValueError(f"latency_histogram.counts key {raw_key!r} is outside ±{MAX_ABS_KEY}")
            if not _is_int(count) or not 0 <= count <= MAX_COUNT:
                raise ValueError(f"latency_histogram.counts[{raw_key!r}] must be a non-negative integer, got {count!r}")
            histogram._add_key(key, count)
        return histogram
