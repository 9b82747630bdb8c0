"""KPI targets: DESIGN.md's defaults, overridden by admin-edited SloTarget rows."""

from dataclasses import dataclass, field, replace

from django.db.models import F

from .models import SloKpi, SloTarget

DEFAULT_P95_LATENCY_MS_BY_TIER = {1: 50.0, 2: 120.0, 3: 250.0}


@dataclass(frozen=True)
class SloTargets:
    p95_latency_ms_by_tier: dict[int, float] = field(default_factory=lambda: dict(DEFAULT_P95_LATENCY_MS_BY_TIER))
    crash_free_sessions: float = 0.995
    unsupported_crash_free_floor: float = 0.95
    errors_per_1k: float = 1.0
    accelerator_utilization: float = 0.95
    memory_budget_fraction: float = 1.0
    min_sample_sessions: int = 30
    benchmark_cv: float = 0.05

    def p95_latency_ms(self, tier: int | None) -> float:
        return self.p95_latency_ms_by_tier.get(tier or 3, DEFAULT_P95_LATENCY_MS_BY_TIER[3])


def slo_targets_get() -> SloTargets:
    """The targets in force: one query."""
    targets = SloTargets()
    by_tier = dict(targets.p95_latency_ms_by_tier)
    overrides: dict[str, float] = {}
    # All-tier rows first, so a tier's own row wins over them.
    for row in SloTarget.objects.order_by(F("tier").asc(nulls_first=True)):
        if row.kpi == SloKpi.P95_LATENCY_MS:
            if row.tier is None:
                by_tier = {tier: row.value for tier in by_tier}
            else:
                by_tier[row.tier] = row.value
        else:
            overrides[row.kpi] = row.value
    if "min_sample_sessions" in overrides:
        overrides["min_sample_sessions"] = int(overrides["min_sample_sessions"])
    return replace(targets, p95_latency_ms_by_tier=by_tier, **overrides)
