"""Totals: the additive sums behind every KPI, and the one list of the columns a rollup row sums.

Every grain of rollup (hourly and daily cohort rows, compat cells, device models, the fleet) stores exactly the
columns of SUM_COLUMNS; merging rows of any grain is adding these columns and merging the two histograms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgeportal_client.histogram import LatencyHistogram

HISTOGRAM_COLUMNS = ("latency_histogram", "peak_rss_histogram")
SCALAR_SUM_COLUMNS = (
    "sessions",
    "crashed_sessions",
    "crashes",
    "inferences",
    "errors",
    "accelerated_weighted_sum",
    "accelerated_weight",
    "devices",
)
# The one list of summed rollup columns (rollup models, migrations' frozen copies aside, follow it).
SUM_COLUMNS = (*SCALAR_SUM_COLUMNS, *HISTOGRAM_COLUMNS)


@dataclass(slots=True)
class SessionSums:
    """What a group of sessions adds to its hour × cohort, named as Totals names it. Histogram keys are the SDK's
    bucket keys (ints)."""

    sessions: int
    crashed_sessions: int
    inferences: int
    errors: int
    accelerated_weighted_sum: float
    accelerated_weight: int
    latency_counts: dict[int, int]
    latency_zero: int
    rss_counts: dict[int, int]
    rss_zero: int
    fallback_sessions: int = 0
    lacking_sessions: int = 0
    # The thermal rollup's energy sums (rollups/thermal.py): sessions reporting energy_mj_per_inference, Σ their
    # inferences, Σ energy × inferences. Cohort Totals do not carry them.
    energy_sessions: int = 0
    energy_inferences: int = 0
    energy_weighted_sum: float = 0.0


@dataclass
class Totals:
    """Additive sums behind every KPI; merging two Totals is the sum of their samples."""

    sessions: int = 0
    crashed_sessions: int = 0
    crashes: int = 0
    inferences: int = 0
    errors: int = 0
    accelerated_weighted_sum: float = 0.0
    accelerated_weight: int = 0
    devices: int = 0
    latency_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latency_zero: int = 0
    rss_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rss_zero: int = 0
    # Kept for the fleet grain and device-lacking days only (kpi.coverage), so not in SCALAR_SUM_COLUMNS.
    fallback_sessions: int = 0
    lacking_sessions: int = 0
    # A trailing-window row read without its histograms carries its stored KPI quantiles instead (kpis.QUANTILE_COLUMNS
    # order): enough for its Kpis, but nothing to merge, so totals_sum refuses it.
    quantiles: tuple | None = None

    def add_histogram(self, wire: dict | None, *, rss: bool = False) -> None:
        """Merge a LatencyHistogram wire dict (keys stay strings: cheaper than parsing each row)."""
        if not wire:
            return
        counts = self.rss_counts if rss else self.latency_counts
        for key, count in (wire.get("counts") or {}).items():
            counts[str(key)] += count
        if rss:
            self.rss_zero += wire.get("zero_count", 0)
        else:
            self.latency_zero += wire.get("zero_count", 0)

    def add_sums(self, sums: SessionSums) -> None:
        """Add what a group of sessions sums to (a partial, or sessions read raw)."""
        self.sessions += sums.sessions
        self.crashed_sessions += sums.crashed_sessions
        self.inferences += sums.inferences
        self.errors += sums.errors
        self.accelerated_weighted_sum += sums.accelerated_weighted_sum
        self.accelerated_weight += sums.accelerated_weight
        for key, count in sums.latency_counts.items():
            self.latency_counts[str(key)] += count
        self.latency_zero += sums.latency_zero
        for key, count in sums.rss_counts.items():
            self.rss_counts[str(key)] += count
        self.rss_zero += sums.rss_zero
        self.fallback_sessions += sums.fallback_sessions
        self.lacking_sessions += sums.lacking_sessions

    def add_scalars(self, values: dict) -> None:
        """Add the scalar sums of a mapping keyed by SCALAR_SUM_COLUMNS (a rollup row, or SQL sums of rows)."""
        for name in SCALAR_SUM_COLUMNS:
            setattr(self, name, getattr(self, name) + values[name])

    def add_row(self, row: dict) -> None:
        """Add a rollup row (values() dict with the SUM_COLUMNS names)."""
        self.add_scalars(row)
        self.add_histogram(row["latency_histogram"])
        self.add_histogram(row["peak_rss_histogram"], rss=True)

    def histogram(self, *, rss: bool = False):
        """The merged LatencyHistogram (latency, or peak RSS with rss=True)."""
        counts, zero = (self.rss_counts, self.rss_zero) if rss else (self.latency_counts, self.latency_zero)
        # Sums of stored rollup histograms, validated when ingested: skip the per-bucket checks of __init__
        # (they were ~60 % of building a page's ~300 per-cohort KPIs).
        histogram = LatencyHistogram()
        histogram.counts = {int(k): v for k, v in counts.items() if v}
        histogram.zero_count = zero
        return histogram

    def wire(self, *, rss: bool = False) -> dict:
        """Wire format of the merged histogram, for storing in a rollup row."""
        return self.histogram(rss=rss).to_wire()

    def columns(self, *, devices: int) -> dict[str, object]:
        """The SUM_COLUMNS values of a rollup row holding these totals; ``devices`` is exact for its bucket."""
        values: dict[str, object] = {name: getattr(self, name) for name in SCALAR_SUM_COLUMNS}
        values.update(devices=devices, latency_histogram=self.wire(), peak_rss_histogram=self.wire(rss=True))
        return values


def totals_sum(parts: Iterable[Totals]) -> Totals:
    """A fresh Totals holding the sum of ``parts`` (the parts stay untouched)."""
    total = Totals()
    for part in parts:
        if part.quantiles is not None:
            raise ValueError("Totals read with stored quantiles and no histograms cannot be merged")
        for name in SCALAR_SUM_COLUMNS:
            setattr(total, name, getattr(total, name) + getattr(part, name))
        for key, count in part.latency_counts.items():
            total.latency_counts[key] += count
        for key, count in part.rss_counts.items():
            total.rss_counts[key] += count
        total.latency_zero += part.latency_zero
        total.rss_zero += part.rss_zero
    return total
