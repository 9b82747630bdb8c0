"""The readiness rules, in isolation: path facts in, verdict and reasons out (no Django, no database)."""

from dataclasses import dataclass, replace

import pytest

from readiness.rules import (
    BLOCKER,
    CAVEAT,
    CAVEATS,
    GAP,
    NO_EVIDENCE,
    NOT_READY,
    READY,
    CrashGroupFacts,
    FieldFacts,
    LabFacts,
    PathFacts,
    Readiness,
    Reason,
    RegressionFacts,
    best_path,
    path_verdict,
    version_verdict,
)


@dataclass(frozen=True)
class Targets:  # core.slo.SloTargets' defaults, without importing Django
    crash_free_sessions: float = 0.995
    errors_per_1k: float = 1.0
    accelerator_utilization: float = 0.95
    memory_budget_fraction: float = 1.0
    min_sample_sessions: int = 30


TARGETS = Targets()
HEALTHY_FIELD = FieldFacts(
    sessions=400, devices=40, p95_latency_ms=30.0, crash_free_sessions=0.999, errors_per_1k=0.2,
    accelerator_utilization=0.99, peak_rss_mb_p95=200.0, link="/fleet/?x",
)  # fmt: skip
HEALTHY_LAB = LabFacts(runs=3, run_id=7, p95_latency_ms=28.0, peak_memory_mb=150.0, accelerated_fraction=1.0,
                       link="/benchmarks/runs/7/")  # fmt: skip
BASE = PathFacts(delegate_kind="gpu", latency_budget_ms=50.0, memory_budget_mb=400.0, field=HEALTHY_FIELD,
                 lab=HEALTHY_LAB)  # fmt: skip


def facts(**changes) -> PathFacts:
    field_changes = {k.removeprefix("field_"): v for k, v in changes.items() if k.startswith("field_")}
    lab_changes = {k.removeprefix("lab_"): v for k, v in changes.items() if k.startswith("lab_")}
    rest = {k: v for k, v in changes.items() if not k.startswith(("field_", "lab_"))}
    result = replace(BASE, **rest)
    if field_changes and result.field is not None:
        result = replace(result, field=replace(result.field, **field_changes))
    if lab_changes and result.lab is not None:
        result = replace(result, lab=replace(result.lab, **lab_changes))
    return result


def group(devices: int, **kw) -> CrashGroupFacts:
    return CrashGroupFacts(**{"id": 5, "title": "SIGSEGV in gpu delegate", "status": "new", "devices": devices,
                              "events": devices * 2, "link": "/crashes/5/", **kw})  # fmt: skip


# One row per rule of the module docstring: facts, expected verdict, the reason codes (in order) it must give.
CASES = [
    ("healthy-field-and-lab", facts(), READY, ()),
    ("p95-over-budget", facts(field_p95_latency_ms=62.0), NOT_READY, ("kpi_missed",)),
    ("p95-at-risk", facts(field_p95_latency_ms=46.0), CAVEATS, ("kpi_at_risk",)),
    ("crash-free-missed", facts(field_crash_free_sessions=0.99), NOT_READY, ("kpi_missed",)),
    ("crash-free-at-risk", facts(field_crash_free_sessions=0.9952), CAVEATS, ("kpi_at_risk",)),
    ("errors-missed", facts(field_errors_per_1k=1.5), NOT_READY, ("kpi_missed",)),
    ("memory-missed", facts(field_peak_rss_mb_p95=420.0), NOT_READY, ("kpi_missed",)),
    ("memory-fraction-of-budget", facts(field_peak_rss_mb_p95=380.0), CAVEATS, ("kpi_at_risk",)),
    ("cpu-fallback-on-gpu", facts(field_accelerator_utilization=0.6), NOT_READY, ("kpi_missed",)),
    ("no-accel-judged-on-cpu", facts(delegate_kind="cpu", field_accelerator_utilization=0.0), READY, ()),
    ("load-failure", facts(lab_failed_run_id=9, lab_failure_reason="op not supported"), NOT_READY, ("load_failed",)),
    ("open-regression", facts(regressions=(RegressionFacts(3, "latency_p95_ms", 30.0, "open"),)), NOT_READY,
     ("lab_regression",)),
    ("acknowledged-regression", facts(regressions=(RegressionFacts(3, "init_ms", 12.0, "acknowledged"),)), CAVEATS,
     ("lab_regression_acknowledged",)),
    ("crash-group-widespread", facts(crash_groups=(group(4),)), NOT_READY, ("crash_group",)),  # 4 of 40 = 10 %
    ("crash-group-at-blocking-share", facts(field_devices=50, crash_groups=(group(1),)), NOT_READY, ("crash_group",)),
    ("crash-group-rare", facts(field_devices=200, crash_groups=(group(1),)), CAVEATS, ("crash_group",)),  # 0.5 %
    ("no-lab-run", facts(lab=None), CAVEATS, ("no_lab_run",)),
    ("lab-only-failed-runs", facts(lab=LabFacts(runs=0, failed_run_id=4, failure_reason="x")), NOT_READY,
     ("load_failed", "no_lab_run")),
    ("lab-only-healthy", facts(field=None), CAVEATS, ("no_field_sessions",)),
    ("lab-only-slow", facts(field=None, lab_p95_latency_ms=70.0), NOT_READY, ("kpi_missed", "no_field_sessions")),
    ("thin-field-and-lab", facts(field_sessions=12), CAVEATS, ("thin_field",)),
    ("too-few-devices", facts(field_devices=2), CAVEATS, ("thin_field",)),
    ("thin-field-no-lab", facts(field_sessions=12, lab=None), NO_EVIDENCE, ("no_lab_run", "thin_field")),
    ("nothing", facts(field=None, lab=None), NO_EVIDENCE, ("no_lab_run", "no_field_sessions")),
    ("blocker-beats-missing-evidence", facts(field=None, lab=None, crash_groups=(group(1),)), NOT_READY,
     ("crash_group", "no_lab_run", "no_field_sessions")),
    ("override-unsupported", facts(override_status="unsupported", override_reason="OEM bug"), NOT_READY,
     ("override",)),
    ("override-degraded", facts(override_status="degraded", override_reason="beta"), CAVEATS, ("override",)),
    ("known-issues", facts(known_issues="Banding on dark frames"), CAVEATS, ("known_issues",)),
    ("field-beats-lab", facts(lab_p95_latency_ms=90.0), READY, ()),
    ("thin-field-leaves-lab-to-judge", facts(field_sessions=5, field_p95_latency_ms=20.0, lab_p95_latency_ms=90.0),
     NOT_READY, ("kpi_missed", "thin_field")),
    ("no-memory-budget", facts(memory_budget_mb=None, field_peak_rss_mb_p95=5000.0), READY, ()),
]  # fmt: skip


@pytest.mark.parametrize("path_facts, verdict, codes", [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_path_verdict_follows_the_rules_table(path_facts, verdict, codes):
    readiness = path_verdict(path_facts, targets=TARGETS)
    assert readiness.verdict == verdict
    assert tuple(reason.code for reason in readiness.reasons) == codes


def test_a_missed_target_names_the_kpi_the_figures_and_the_sample():
    reason = path_verdict(facts(field_p95_latency_ms=62.0), targets=TARGETS).reasons[0]
    assert reason.severity == BLOCKER
    assert reason.text == "p95 latency 62 ms misses the 50 ms target (400 sessions on 40 devices)"
    assert reason.link == "/fleet/?x"


def test_a_lab_judged_kpi_links_to_its_run():
    reason = path_verdict(facts(field=None, lab_p95_latency_ms=70.0), targets=TARGETS).reasons[0]
    assert reason.text == "p95 latency 70 ms misses the 50 ms target (lab run 7)"
    assert reason.link == "/benchmarks/runs/7/"


def test_a_crash_group_reason_gives_its_device_share_and_links_to_the_group():
    readiness = path_verdict(facts(crash_groups=(group(4),)), targets=TARGETS)
    assert readiness.crash_shares == {5: 0.1}
    reason = readiness.reasons[0]
    assert reason.text == "open crash group #5 “SIGSEGV in gpu delegate” (new) on 4 of 40 devices (10 %), 8 crashes"
    assert reason.link == "/crashes/5/"


def test_a_crash_on_a_device_without_sessions_counts_that_device_as_active():
    readiness = path_verdict(facts(field=None, crash_groups=(group(2),)), targets=TARGETS)
    assert readiness.crash_shares == {5: 1.0}


def test_reasons_come_blockers_first_then_caveats_then_missing_evidence():
    readiness = path_verdict(
        facts(lab=None, known_issues="x", field_p95_latency_ms=80.0, field_crash_free_sessions=0.9952), targets=TARGETS
    )
    assert [r.severity for r in readiness.reasons] == [BLOCKER, CAVEAT, CAVEAT, GAP]


def test_every_judged_kpi_is_listed_with_its_source_and_status():
    readiness = path_verdict(facts(field=None, lab_p95_latency_ms=46.0), targets=TARGETS)
    assert [(k.kpi, k.source, k.status) for k in readiness.kpis] == [
        ("p95_latency_ms", "lab", "at_risk"),
        ("peak_rss_mb_p95", "lab", "met"),
        ("accelerator_utilization", "lab", "met"),
    ]


def r(verdict: str, text: str = "") -> Readiness:
    severity = {NOT_READY: BLOCKER, CAVEATS: CAVEAT, NO_EVIDENCE: GAP}.get(verdict)
    return Readiness(verdict, (Reason(severity, "x", text),) if severity else ())


@pytest.mark.parametrize(
    "paths, best",
    [
        ([r(NOT_READY), r(READY)], READY),
        ([r(NOT_READY), r(NO_EVIDENCE)], NO_EVIDENCE),
        ([r(CAVEATS), r(NO_EVIDENCE)], CAVEATS),
        ([r(NOT_READY)], NOT_READY),
        ([], NO_EVIDENCE),
    ],
)
def test_a_device_model_takes_its_best_path(paths, best):
    assert best_path(paths).verdict == best


@pytest.mark.parametrize(
    "device_models, verdict, texts",
    [
        ([], NO_EVIDENCE, ["no compat cell for this version yet"]),
        ([("Pixel 8", r(READY)), ("Galaxy A54", r(READY))], READY, []),
        ([("Pixel 8", r(READY)), ("Galaxy A54", r(NOT_READY, "p95 slow"))], NOT_READY,
         ["not ready on Galaxy A54: p95 slow"]),
        ([("Pixel 8", r(CAVEATS, "no lab run")), ("Galaxy A54", r(READY))], CAVEATS,
         ["caveats on Pixel 8: no lab run"]),
        ([("Pixel 8", r(READY)), ("Galaxy A54", r(NO_EVIDENCE))], CAVEATS, ["not enough evidence on Galaxy A54"]),
        ([("Pixel 8", r(NO_EVIDENCE)), ("Galaxy A54", r(NO_EVIDENCE))], NO_EVIDENCE,
         ["not enough evidence on Pixel 8", "not enough evidence on Galaxy A54"]),
        ([("Pixel 8", r(NO_EVIDENCE)), ("Galaxy A54", r(NOT_READY, "crash")), ("Jetson", r(CAVEATS, "risk"))],
         NOT_READY, ["not ready on Galaxy A54: crash", "caveats on Jetson: risk", "not enough evidence on Pixel 8"]),
    ],
)  # fmt: skip
def test_a_model_version_is_judged_over_its_device_models(device_models, verdict, texts):
    readiness = version_verdict(device_models)
    assert readiness.verdict == verdict
    assert [reason.text for reason in readiness.reasons] == texts
