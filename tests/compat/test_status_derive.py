"""The status rules, in isolation: evidence figures in, status and reason out."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from compat.models import CompatStatus
from compat.status import best_status, status_derive
from core.slo import SloTargets

T0 = datetime(2025, 3, 1, tzinfo=UTC)
TARGETS = SloTargets()


@dataclass
class Ev:
    source: str = "field"
    source_ref: str = "field:30d"
    sample_size: int = 500
    period_end: datetime | None = T0
    recorded_at: datetime | None = T0
    p95_latency_ms: float | None = 30.0
    latency_budget_ms: float | None = 50.0
    accelerated_fraction: float | None = 0.99
    crash_free_sessions: float | None = 0.999
    errors_per_1k: float | None = 0.2
    peak_rss_mb_p95: float | None = 100.0
    memory_budget_mb: float | None = 400.0
    load_failed: bool = False
    failure_reason: str = ""
    degraded_reason: str = ""


def lab(**kw):
    base = dict(source="lab", source_ref="lab:run:1", sample_size=3, crash_free_sessions=None, errors_per_1k=None)
    return Ev(**{**base, **kw})


def derive(evidence, kind="gpu", tier=1):
    return status_derive(evidence=evidence, targets=TARGETS, tier=tier, delegate_kind=kind)


@pytest.mark.parametrize(
    "evidence, expected, missed",
    [
        ([], CompatStatus.UNTESTED, ()),
        ([Ev()], CompatStatus.SUPPORTED, ()),
        ([lab()], CompatStatus.SUPPORTED, ()),
        ([Ev(p95_latency_ms=51)], CompatStatus.DEGRADED, ("p95_latency_ms",)),
        ([Ev(crash_free_sessions=0.99)], CompatStatus.DEGRADED, ("crash_free_sessions",)),
        ([Ev(crash_free_sessions=0.90)], CompatStatus.UNSUPPORTED, ("crash_free_sessions",)),
        ([Ev(errors_per_1k=1.0)], CompatStatus.DEGRADED, ("errors_per_1k",)),
        ([Ev(accelerated_fraction=0.6)], CompatStatus.DEGRADED, ("accelerated_fraction",)),
        ([Ev(peak_rss_mb_p95=401)], CompatStatus.DEGRADED, ("peak_rss_mb_p95",)),
        ([Ev(p95_latency_ms=80, errors_per_1k=3)], CompatStatus.DEGRADED, ("p95_latency_ms", "errors_per_1k")),
        ([lab(load_failed=True, failure_reason="op not supported")], CompatStatus.UNSUPPORTED, ("load",)),
        ([Ev(sample_size=5)], CompatStatus.UNTESTED, ()),
    ],
    ids=[
        "no-evidence",
        "healthy-field",
        "healthy-lab",
        "slow",
        "crashy",
        "below-crash-floor",
        "error-rate",
        "cpu-fallback",
        "over-memory",
        "two-misses",
        "load-failure",
        "thin-field-sample",
    ],
)
def test_status_from_single_evidence(evidence, expected, missed):
    verdict = derive(evidence)
    assert verdict.status == expected
    assert verdict.missed == missed


def test_degraded_reason_names_every_missed_kpi_with_figures():
    verdict = derive([Ev(p95_latency_ms=80, errors_per_1k=3)])
    assert "p95 latency 80 ms > 50 ms budget (field)" in verdict.reason
    assert "errors 3/1k" in verdict.reason


def test_field_evidence_with_enough_samples_wins_over_lab_for_the_same_kpi():
    verdict = derive([lab(p95_latency_ms=90), Ev(p95_latency_ms=40)])
    assert verdict.status == CompatStatus.SUPPORTED


def test_thin_field_evidence_does_not_override_lab_figures():
    verdict = derive([lab(p95_latency_ms=90), Ev(sample_size=10, p95_latency_ms=40)])
    assert verdict.status == CompatStatus.DEGRADED and "(lab)" in verdict.reason


def test_lab_latency_counts_when_the_field_has_no_p95():
    verdict = derive([lab(p95_latency_ms=90), Ev(p95_latency_ms=None)])
    assert verdict.missed == ("p95_latency_ms",)


def test_newest_field_item_wins_among_field_items():
    old = Ev(source_ref="field:30d", p95_latency_ms=90, period_end=T0)
    new = Ev(source_ref="field:7d", p95_latency_ms=40, period_end=T0 + timedelta(days=7))
    assert derive([old, new]).status == CompatStatus.SUPPORTED


def test_load_failure_is_superseded_only_by_a_later_successful_run():
    failed = lab(load_failed=True, period_end=T0)
    later_ok = lab(source_ref="lab:run:2", period_end=T0 + timedelta(days=1))
    earlier_ok = lab(source_ref="lab:run:0", period_end=T0 - timedelta(days=1))
    assert derive([failed, later_ok]).status == CompatStatus.SUPPORTED
    assert derive([earlier_ok, failed]).status == CompatStatus.UNSUPPORTED


def test_crash_floor_beats_other_misses():
    assert derive([Ev(crash_free_sessions=0.5, p95_latency_ms=999)]).status == CompatStatus.UNSUPPORTED


def test_accelerator_utilization_is_not_judged_on_cpu_delegates():
    assert derive([Ev(accelerated_fraction=0.0)], kind="cpu").status == CompatStatus.SUPPORTED


def test_tier_budget_applies_when_evidence_carries_none():
    assert derive([Ev(latency_budget_ms=None, p95_latency_ms=100)], tier=2).status == CompatStatus.SUPPORTED
    assert derive([Ev(latency_budget_ms=None, p95_latency_ms=100)], tier=1).status == CompatStatus.DEGRADED


def test_min_sample_target_is_respected():
    targets = SloTargets(min_sample_sessions=5)
    verdict = status_derive(evidence=[Ev(sample_size=5)], targets=targets, tier=1, delegate_kind="gpu")
    assert verdict.status == CompatStatus.SUPPORTED


@pytest.mark.parametrize(
    "statuses, best",
    [
        (["degraded", "supported"], "supported"),
        (["unsupported", "untested"], "untested"),
        (["unsupported", "degraded"], "degraded"),
        ([], "untested"),
    ],
)
def test_best_status_across_paths(statuses, best):
    assert best_status(statuses) == best


def test_a_degrading_finding_degrades_a_healthy_cell_with_its_reason():
    finding = Ev(source_ref="field:drift", sample_size=3, p95_latency_ms=None, accelerated_fraction=None,
                 crash_free_sessions=None, errors_per_1k=None, peak_rss_mb_p95=None,
                 degraded_reason="delegate-fallback drift: RESIZE_BILINEAR falls back")  # fmt: skip
    assert derive([Ev()]).status == CompatStatus.SUPPORTED
    verdict = derive([Ev(), finding])
    assert verdict.status == CompatStatus.DEGRADED and verdict.missed == ("degraded",)
    assert "delegate-fallback drift: RESIZE_BILINEAR falls back" in verdict.reason
    # It counts whatever its sample size (its producer applied its own minimum), even beside thin field evidence.
    assert derive([Ev(sample_size=2), finding]).status == CompatStatus.DEGRADED
