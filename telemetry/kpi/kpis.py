"""Kpis: the DESIGN.md KPI figures of one scope and range, computed from Totals (one definition, used everywhere)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from .totals import Totals

Quantiles = tuple[float | None, float | None, float | None, float | None, float | None]
QUANTILE_COLUMNS = ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "peak_rss_mb_p50", "peak_rss_mb_p95")


def totals_quantiles(totals: Totals) -> Quantiles:
    """The KPI quantiles of merged histograms, in QUANTILE_COLUMNS order (None for an empty histogram): the one
    definition, computed here for a page and when a trailing-window row is written (its stored columns)."""
    if totals.quantiles is not None:
        return totals.quantiles
    latency, rss = totals.histogram(), totals.histogram(rss=True)
    p50, p95, p99 = latency.quantiles((0.5, 0.95, 0.99))
    rss50, rss95 = rss.quantiles((0.5, 0.95))
    return p50, p95, p99, rss50, rss95


@dataclass(frozen=True)
class Kpis:
    """The DESIGN.md KPIs of one scope and range (None where there is no data to compute it from)."""

    start: datetime
    end: datetime
    sessions: int
    crashed_sessions: int
    crash_free_sessions: float | None
    inferences: int
    errors: int
    errors_per_1k: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    accelerator_utilization: float | None
    peak_rss_mb_p50: float | None
    peak_rss_mb_p95: float | None
    devices: int
    crashes: int = 0

    @classmethod
    def from_totals(cls, totals: Totals, *, start: datetime, end: datetime) -> Kpis:
        p50, p95, p99, rss50, rss95 = totals_quantiles(totals)
        return cls(
            start=start,
            end=end,
            sessions=totals.sessions,
            crashed_sessions=totals.crashed_sessions,
            crash_free_sessions=1 - totals.crashed_sessions / totals.sessions if totals.sessions else None,
            inferences=totals.inferences,
            errors=totals.errors,
            errors_per_1k=1000 * totals.errors / totals.inferences if totals.inferences else None,
            p50_latency_ms=p50,
            p95_latency_ms=p95,
            p99_latency_ms=p99,
            accelerator_utilization=(
                totals.accelerated_weighted_sum / totals.accelerated_weight if totals.accelerated_weight else None
            ),
            peak_rss_mb_p50=rss50,
            peak_rss_mb_p95=rss95,
            devices=totals.devices,
            crashes=totals.crashes,
        )

    def as_api(self) -> dict:
        """The API.md /telemetry/kpis/ body."""

        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "from": self.start.isoformat().replace("+00:00", "Z"),
            "to": self.end.isoformat().replace("+00:00", "Z"),
            "sessions": self.sessions,
            "crashed_sessions": self.crashed_sessions,
            "crash_free_sessions": r(self.crash_free_sessions, 6),
            "inferences": self.inferences,
            "errors": self.errors,
            "errors_per_1k": r(self.errors_per_1k, 4),
            "latency_ms": {
                "p50": r(self.p50_latency_ms, 3),
                "p95": r(self.p95_latency_ms, 3),
                "p99": r(self.p99_latency_ms, 3),
            },
            "accelerator_utilization": r(self.accelerator_utilization, 6),
            "peak_rss_mb": {"p50": r(self.peak_rss_mb_p50, 2), "p95": r(self.peak_rss_mb_p95, 2)},
            "devices": self.devices,
        }

    def as_dict(self) -> dict:
        return asdict(self)
