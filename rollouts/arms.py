"""An arm's sessions as arrays: what the guardrail tests and the page read (built from telemetry or simulated)."""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from edgeportal_client.histogram import GAMMA, LatencyHistogram, bucket_value

LOG_GAMMA = float(np.log(GAMMA))


@dataclass(eq=False)
class ArmData:
    """One arm (or one device model of it), a row per session.

    `latency_counts[i, j]` counts session i's inferences in histogram bucket `latency_offset + j` (the edgeportal_client
    key mapping); `latency_zero[i]` its zero-bucket count. `accelerated_fraction` and `peak_rss_mb` are NaN when the
    session did not report them.
    """

    device_model: np.ndarray
    device: np.ndarray
    crashed: np.ndarray
    inferences: np.ndarray
    errors: np.ndarray
    accelerated_fraction: np.ndarray
    peak_rss_mb: np.ndarray
    latency_offset: int
    latency_counts: np.ndarray
    latency_zero: np.ndarray

    @classmethod
    def empty(cls) -> "ArmData":
        zeros = np.zeros(0)
        return cls(
            device_model=np.zeros(0, dtype=object),
            device=np.zeros(0, dtype=object),
            crashed=np.zeros(0, dtype=bool),
            inferences=zeros,
            errors=zeros,
            accelerated_fraction=zeros,
            peak_rss_mb=zeros,
            latency_offset=0,
            latency_counts=np.zeros((0, 1), dtype=np.int64),
            latency_zero=np.zeros(0, dtype=np.int64),
        )

    @property
    def sessions(self) -> int:
        return len(self.crashed)

    @property
    def devices(self) -> int:
        return len(set(self.device.tolist()))

    @cached_property
    def device_codes(self) -> np.ndarray:
        """Each session's device as an integer code: the clusters of the guardrails' variances."""
        if self.sessions == 0:
            return np.zeros(0, dtype=np.int64)
        return np.unique(self.device.astype(str), return_inverse=True)[1].astype(np.int64)

    def subset(self, rows) -> "ArmData":
        """The sessions selected by a boolean mask or a slice."""
        return ArmData(
            device_model=self.device_model[rows],
            device=self.device[rows],
            crashed=self.crashed[rows],
            inferences=self.inferences[rows],
            errors=self.errors[rows],
            accelerated_fraction=self.accelerated_fraction[rows],
            peak_rss_mb=self.peak_rss_mb[rows],
            latency_offset=self.latency_offset,
            latency_counts=self.latency_counts[rows],
            latency_zero=self.latency_zero[rows],
        )

    def by_device_model(self) -> dict[str, "ArmData"]:
        return {
            str(model): self.subset(self.device_model == model) for model in sorted(set(self.device_model.tolist()))
        }

    # -- latency --------------------------------------------------------------------------------------------

    @cached_property
    def latency_totals(self) -> np.ndarray:
        """Inferences per bucket over all sessions (the merged histogram's counts, offset by latency_offset)."""
        return self.latency_counts.sum(axis=0)

    @cached_property
    def latency_samples(self) -> np.ndarray:
        return self.latency_counts.sum(axis=1) + self.latency_zero

    def latency_above(self, key: int) -> np.ndarray:
        """Per session: inferences in buckets above `key` (strictly), exact on the histogram grid."""
        column = key + 1 - self.latency_offset
        if column <= 0:
            return self.latency_samples - self.latency_zero
        if column >= self.latency_counts.shape[1]:
            return np.zeros(self.sessions, dtype=np.int64)
        return self.latency_counts[:, column:].sum(axis=1)

    def latency_histogram(self) -> LatencyHistogram:
        totals = self.latency_totals
        counts = {self.latency_offset + int(j): int(c) for j in np.flatnonzero(totals) for c in (totals[j],)}
        return LatencyHistogram(counts=counts, zero_count=int(self.latency_zero.sum()))


def merged_latency_histogram(*arms: ArmData) -> LatencyHistogram:
    return LatencyHistogram.merged(arm.latency_histogram() for arm in arms)


def histogram_key(value: float) -> int | None:
    """The bucket of a quantile read back from a histogram (None for the zero bucket)."""
    return None if value is None or value <= 0 else int(np.ceil(np.log(value) / LOG_GAMMA - 1e-9))


def value_keys(values: np.ndarray) -> np.ndarray:
    """Histogram keys of positive values (per-session peak RSS), vectorized ddsketch LogarithmicMapping(0.01)."""
    return np.ceil(np.log(np.maximum(values, 1e-3)) / LOG_GAMMA).astype(np.int64)


def values_quantile(values: np.ndarray, q: float) -> float | None:
    """The q-quantile of values through the same 1 %-accuracy histogram (rank floor(q·(n−1)), like LatencyHistogram)."""
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return None
    keys = np.sort(value_keys(values))
    return bucket_value(int(keys[int(np.floor(q * (len(keys) - 1)))]))
