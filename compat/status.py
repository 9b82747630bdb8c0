"""Derives a cell's status from its evidence and the SLO targets: a pure function, no database.

How lab and field evidence combine (documented once, used everywhere):
- No evidence at all: untested.
- Load/convert failure: unsupported, unless a later item (any source, enough samples) shows the cell running
  (a fixed flaky load must not pin a cell to unsupported forever; a new failure flips it back).
- Field evidence counts only with at least `min_sample_sessions` sessions; lab evidence counts with one run.
- For each KPI, the newest field item with enough samples wins; without one, the newest lab item that measured
  the KPI is used (so lab p95 latency counts when the field has no p95 yet).
- Crash-free sessions below `unsupported_crash_free_floor`: unsupported (it runs, but kills the app).
- Every judged KPI meets its target: supported. One or more misses: degraded, and the reason names each.
- Evidence present but nothing judgeable (only thin field samples): untested, with the reason.
- Accelerator utilization is judged only on accelerated delegates (gpu/npu/dsp); a CPU path has none by design.
- An item with a `degraded_reason` (a finding that is no KPI figure, e.g. delegate-fallback drift) counts whatever
  its sample size (its producer applied its own minimum) and degrades the cell with that reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from core.slo import SloTargets

from .models import CompatStatus, DelegateKind, EvidenceSource

# Best first. An untested path may still work, an unsupported one will not: untested ranks above unsupported.
STATUS_RANK = {
    CompatStatus.SUPPORTED: 0,
    CompatStatus.DEGRADED: 1,
    CompatStatus.UNTESTED: 2,
    CompatStatus.UNSUPPORTED: 3,
}


class EvidenceLike(Protocol):
    source: str
    source_ref: str
    sample_size: int
    period_end: datetime | None
    recorded_at: datetime | None
    p95_latency_ms: float | None
    latency_budget_ms: float | None
    accelerated_fraction: float | None
    crash_free_sessions: float | None
    errors_per_1k: float | None
    peak_rss_mb_p95: float | None
    memory_budget_mb: float | None
    load_failed: bool
    failure_reason: str
    degraded_reason: str


@dataclass(frozen=True)
class StatusVerdict:
    """A derived status with the human reason and the KPIs that missed."""

    status: str
    reason: str
    missed: tuple[str, ...] = ()
    figures: dict = field(default_factory=dict)  # the headline figures judged (p95, budget, crash-free, ...)


def _when(item: EvidenceLike) -> tuple:
    # Newest first: the measured period's end, then when it was recorded, then the larger sample.
    moment = item.period_end or item.recorded_at
    return (moment.timestamp() if moment else 0.0, item.sample_size)


def _counts(item: EvidenceLike, min_sessions: int) -> bool:
    if item.degraded_reason:
        return True
    if item.source == EvidenceSource.FIELD:
        return item.sample_size >= min_sessions
    return item.sample_size >= 1


def _pick(items: Sequence[EvidenceLike], attribute: str) -> EvidenceLike | None:
    """The item whose figure for `attribute` is used: newest field item, else newest lab item."""
    measured = [item for item in items if getattr(item, attribute) is not None]
    for source in (EvidenceSource.FIELD, EvidenceSource.LAB):
        of_source = [item for item in measured if item.source == source]
        if of_source:
            return max(of_source, key=_when)
    return None


def _pct(value: float) -> str:
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + " %"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def status_derive(
    *,
    evidence: Sequence[EvidenceLike],
    targets: SloTargets,
    tier: int | None,
    delegate_kind: str,
    memory_budget_mb: float | None = None,
) -> StatusVerdict:
    """The derived status of one cell from all its evidence (see the module docstring for the rules)."""
    if not evidence:
        return StatusVerdict(CompatStatus.UNTESTED, "No evidence yet.")

    failures = [item for item in evidence if item.load_failed]
    if failures:
        newest_failure = max(failures, key=_when)
        later_runs = [
            item
            for item in evidence
            if not item.load_failed
            and _counts(item, targets.min_sample_sessions)
            and _when(item) > _when(newest_failure)
        ]
        if not later_runs:
            why = newest_failure.failure_reason or "no reason given"
            return StatusVerdict(
                CompatStatus.UNSUPPORTED,
                f"Load/convert failed ({newest_failure.source_ref}): {why}",
                ("load",),
                headline_figures(evidence, targets=targets, tier=tier),
            )

    usable = [item for item in evidence if not item.load_failed and _counts(item, targets.min_sample_sessions)]
    verdict = _judge(
        usable, evidence, targets=targets, tier=tier, delegate_kind=delegate_kind, memory_budget_mb=memory_budget_mb
    )
    return replace(verdict, figures=headline_figures(usable or evidence, targets=targets, tier=tier))


def headline_figures(items: Sequence[EvidenceLike], *, targets: SloTargets, tier: int | None) -> dict:
    """The figures a matrix cell shows: the ones picked by the same rules as the status."""
    latency = _pick(items, "p95_latency_ms")
    crash = _pick(items, "crash_free_sessions")
    accel = _pick(items, "accelerated_fraction")
    return {
        "p95_latency_ms": latency.p95_latency_ms if latency else None,
        "latency_budget_ms": (latency.latency_budget_ms if latency else None) or targets.p95_latency_ms(tier),
        "crash_free_sessions": crash.crash_free_sessions if crash else None,
        "accelerated_fraction": accel.accelerated_fraction if accel else None,
        "sample_size": max((item.sample_size for item in items), default=0),
    }


def _judge(
    usable: Sequence[EvidenceLike],
    evidence: Sequence[EvidenceLike],
    *,
    targets: SloTargets,
    tier: int | None,
    delegate_kind: str,
    memory_budget_mb: float | None,
) -> StatusVerdict:
    if not usable:
        biggest = max(evidence, key=lambda item: item.sample_size)
        return StatusVerdict(
            CompatStatus.UNTESTED,
            f"Not enough samples: {biggest.sample_size} < {targets.min_sample_sessions} sessions needed.",
        )

    misses: list[tuple[str, str]] = []
    crash_item = _pick(usable, "crash_free_sessions")
    if crash_item is not None:
        value = crash_item.crash_free_sessions
        if value < targets.unsupported_crash_free_floor:
            return StatusVerdict(
                CompatStatus.UNSUPPORTED,
                f"Crash-free sessions {_pct(value)} below the {_pct(targets.unsupported_crash_free_floor)} floor "
                f"({crash_item.source}, n={crash_item.sample_size}).",
                ("crash_free_sessions",),
            )
        if value < targets.crash_free_sessions:
            misses.append(("crash_free_sessions", f"crash-free {_pct(value)} < {_pct(targets.crash_free_sessions)}"))

    latency_item = _pick(usable, "p95_latency_ms")
    if latency_item is not None:
        budget = latency_item.latency_budget_ms or targets.p95_latency_ms(tier)
        if latency_item.p95_latency_ms > budget:
            misses.append(
                (
                    "p95_latency_ms",
                    f"p95 latency {_num(latency_item.p95_latency_ms)} ms > {_num(budget)} ms budget "
                    f"({latency_item.source})",
                )
            )

    errors_item = _pick(usable, "errors_per_1k")
    if errors_item is not None and errors_item.errors_per_1k >= targets.errors_per_1k:
        misses.append(("errors_per_1k", f"errors {errors_item.errors_per_1k:g}/1k ≥ {targets.errors_per_1k:g}/1k"))

    if delegate_kind != DelegateKind.CPU:
        accel_item = _pick(usable, "accelerated_fraction")
        if accel_item is not None and accel_item.accelerated_fraction < targets.accelerator_utilization:
            misses.append(
                (
                    "accelerated_fraction",
                    f"accelerated {_pct(accel_item.accelerated_fraction)} < "
                    f"{_pct(targets.accelerator_utilization)} ({accel_item.source})",
                )
            )

    memory_item = _pick(usable, "peak_rss_mb_p95")
    if memory_item is not None:
        budget_mb = memory_item.memory_budget_mb or memory_budget_mb
        if budget_mb:
            allowed = budget_mb * targets.memory_budget_fraction
            if memory_item.peak_rss_mb_p95 > allowed:
                misses.append(
                    (
                        "peak_rss_mb_p95",
                        f"peak memory {_num(memory_item.peak_rss_mb_p95)} MB > {_num(allowed)} MB budget "
                        f"({memory_item.source})",
                    )
                )

    misses += [("degraded", item.degraded_reason) for item in usable if item.degraded_reason]
    if misses:
        return StatusVerdict(
            CompatStatus.DEGRADED,
            "Runs, but misses: " + "; ".join(text for _, text in misses) + ".",
            tuple(name for name, _ in misses),
        )
    sources = sorted({item.source for item in usable})
    return StatusVerdict(CompatStatus.SUPPORTED, f"Every measured KPI meets its target ({', '.join(sources)}).")


def best_status(statuses: Sequence[str]) -> str:
    """The best of several statuses (what a matrix cell shows across runtimes/delegates)."""
    return min(statuses, key=STATUS_RANK.__getitem__, default=CompatStatus.UNTESTED)
