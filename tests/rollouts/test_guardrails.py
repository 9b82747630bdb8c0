"""Guardrail statistics on synthetic arms (no database): the function the evaluation and perf/rollout_eval.py share."""

from dataclasses import replace

import numpy as np
import pytest

from rollouts.guardrails import HISTOGRAM_RATIO_ERROR, KPI_SPECS
from rollouts.stats import msprt
from rollouts.synthetic import DEVICE_MODELS, DeviceFleet, FleetProfile, arm_generate
from rollouts.verdict import guardrail_alpha, verdict_compute

GUARDRAILS = [
    {"kpi": k, "max_regression": s.default_max_regression, "per_device_model": True} for k, s in KPI_SPECS.items()
]
ALPHA = guardrail_alpha(false_failure_budget=0.01, stages=3, guardrails=GUARDRAILS, device_models=3)
STAGE = {"percent": 5, "min_hours": 0, "min_sessions": 1000}


def arms(profile: FleetProfile, *, sessions: int, seed: int = 11):
    rng = np.random.default_rng(seed)
    base = FleetProfile()
    fleet = DeviceFleet(rng, base)
    control = arm_generate(rng=rng, fleet=fleet, profile=base, sessions=sessions)
    candidate = arm_generate(rng=rng, fleet=fleet, profile=profile, sessions=sessions)
    return candidate, control


def decide(candidate, control, stage=STAGE, hours=48.0):
    return verdict_compute(
        stage=stage, stage_hours=hours, candidate=candidate, control=control, guardrails=GUARDRAILS, alpha=ALPHA
    )


def test_alpha_is_the_budget_over_stages_and_tests():
    assert ALPHA == pytest.approx(0.01 / (3 * 5 * 4))


def test_a_candidate_like_its_baseline_proceeds():
    verdict = decide(*arms(FleetProfile(), sessions=4000))
    assert verdict.decision == "proceed", verdict.reasons
    assert {row["state"] for row in verdict.guardrails} == {"pass"}
    assert len(verdict.guardrails) == 5 * (1 + len(DEVICE_MODELS))


def test_a_crash_regression_on_one_device_model_fails_that_slice():
    profile = replace(FleetProfile(), affected=(DEVICE_MODELS[1],), crash_rate_affected=0.03)
    verdict = decide(*arms(profile, sessions=6000))
    assert verdict.decision == "fail"
    failed = {(row["kpi"], row["device_model"]) for row in verdict.guardrails if row["state"] == "fail"}
    assert ("crash_free_sessions", DEVICE_MODELS[1]) in failed
    assert all(model in (DEVICE_MODELS[1], None) for _, model in failed)
    assert any("crash_free_sessions on sim-phone-b" in reason for reason in verdict.reasons)


def test_a_p95_regression_is_called_with_both_p95s_reported():
    verdict = decide(*arms(replace(FleetProfile(), affected=DEVICE_MODELS, latency_factor=1.15), sessions=2000))
    row = next(r for r in verdict.guardrails if r["kpi"] == "p95_latency_ms" and r["device_model"] is None)
    assert row["state"] == "fail" and row["difference"] == pytest.approx(0.15, abs=0.04)
    assert row["candidate"] > row["control"] and row["p_value"] < ALPHA


def test_a_p95_shift_within_histogram_accuracy_is_never_called_however_large_the_sample():
    verdict = decide(*arms(replace(FleetProfile(), affected=DEVICE_MODELS, latency_factor=1.015), sessions=20000))
    row = next(r for r in verdict.guardrails if r["kpi"] == "p95_latency_ms" and r["device_model"] is None)
    assert row["state"] == "pass" and row["difference"] < HISTOGRAM_RATIO_ERROR


def test_a_clear_but_negligible_crash_difference_does_not_fail():
    # +0.05 point of crashes on 60,000 sessions a side is below half the 0.2-point max_regression
    profile = replace(FleetProfile(), crash_rate=0.0055)
    candidate, control = arms(profile, sessions=60000)
    verdict = decide(candidate, control)
    assert all(r["state"] == "pass" for r in verdict.guardrails if r["kpi"] == "crash_free_sessions")


def test_nothing_is_decided_below_the_stage_minimums():
    profile = replace(FleetProfile(), affected=DEVICE_MODELS, crash_rate_affected=0.2)
    candidate, control = arms(profile, sessions=1500)
    short = decide(candidate, control, stage={"percent": 5, "min_hours": 0, "min_sessions": 2000})
    assert short.decision == "hold"
    assert short.reasons[:2] == [
        "candidate has 1500 of 2000 sessions needed",
        "control has 1500 of 2000 sessions needed",
    ]
    assert {row["state"] for row in short.guardrails} == {"insufficient_data"}
    young = decide(candidate, control, stage={"percent": 5, "min_hours": 24, "min_sessions": 0}, hours=3)
    assert young.decision == "hold" and young.reasons == ["stage has run 3.0 of 24 hours needed"]
    assert decide(candidate, control, stage={"percent": 5, "min_hours": 24, "min_sessions": 0}).decision == "fail"


def test_an_open_lab_regression_blocks_an_otherwise_passing_stage():
    candidate, control = arms(FleetProfile(), sessions=2000)
    verdict = verdict_compute(
        stage=STAGE, stage_hours=48, candidate=candidate, control=control, guardrails=GUARDRAILS, alpha=ALPHA,
        lab_blocks=["open lab regression 4"],
    )  # fmt: skip
    assert (verdict.decision, verdict.reasons) == ("blocked", ["open lab regression 4"])


def test_msprt_rarely_crosses_under_the_null_however_often_one_looks():
    rng = np.random.default_rng(5)
    alpha, crossed = 0.05, 0
    for _ in range(2000):
        increments = rng.normal(0, 1, 200)
        sums = np.cumsum(increments)
        n = np.arange(1, 201)
        # Δ̂ = mean, V = 1/n: 200 looks at a growing sample
        crossed += any(
            msprt(delta=s / k, variance=1 / k, tau=0.3, alpha=alpha).worse for s, k in zip(sums, n, strict=True)
        )
    assert crossed / 2000 < alpha / 2 + 0.01  # one-sided use of a two-sided mixture: about α/2 at most


def test_msprt_without_variance_decides_nothing():
    assert not msprt(delta=1.0, variance=0.0, tau=0.1, alpha=0.05).worse


def _few_devices(profile: FleetProfile, *, devices: int, sessions: int, seed: int):
    """Arms on a small fleet: many sessions per device, strong device effects (the live simulator's shape)."""
    rng = np.random.default_rng(seed)
    base = replace(FleetProfile(), devices=devices, device_sigma=0.25)
    fleet = DeviceFleet(rng, base)
    half = np.arange(devices) % 2 == 0  # disjoint arms, as a rollout assigns them
    candidate = arm_generate(rng=rng, fleet=fleet, profile=replace(profile, devices=devices, device_sigma=0.25),
                             sessions=sessions, devices=np.flatnonzero(half))  # fmt: skip
    control = arm_generate(rng=rng, fleet=fleet, profile=base, sessions=sessions, devices=np.flatnonzero(~half))
    return candidate, control


def test_a_device_mix_difference_between_the_arms_is_not_a_regression():
    # Same behaviour per device model, but the candidate arm holds mostly the slowest phone: its pooled p95 is far
    # above the control's. Stratified by device model, the whole-arm test sees no regression of the version.
    candidate, control = arms(FleetProfile(), sessions=6000, seed=5)
    slow = DEVICE_MODELS[2]
    candidate = candidate.subset((candidate.device_model == slow) | (np.arange(candidate.sessions) % 4 == 0))
    control = control.subset((control.device_model != slow) | (np.arange(control.sessions) % 4 == 0))
    verdict = decide(candidate, control)
    row = next(r for r in verdict.guardrails if r["kpi"] == "p95_latency_ms" and r["device_model"] is None)
    assert row["difference"] > 0.2  # the raw p95s differ by the mix ...
    assert row["state"] == "pass" and row["p_value"] > 0.05, row  # ... and that is not called a regression
    assert verdict.decision == "proceed", verdict.reasons


def test_a_real_regression_is_still_called_under_a_device_mix_difference():
    candidate, control = arms(replace(FleetProfile(), affected=DEVICE_MODELS, latency_factor=1.2), sessions=6000)
    slow = DEVICE_MODELS[2]
    control = control.subset(control.device_model != slow)  # the control has none of the slowest phone
    row = next(
        r for r in decide(candidate, control).guardrails if r["kpi"] == "p95_latency_ms" and not r["device_model"]
    )
    assert row["state"] == "fail", row


def test_device_clustered_variance_matches_a_direct_computation():
    from rollouts.stats import ratio_variance

    y = np.array([1.0, 0.0, 2.0, 1.0, 0.0, 3.0])
    w = np.array([10.0, 10.0, 20.0, 10.0, 5.0, 15.0])
    clusters = np.array([0, 0, 1, 1, 3, 3])  # codes of a subset: 2 is missing, three clusters
    ratio = y.sum() / w.sum()
    per_cluster = [sum(y[i] - ratio * w[i] for i in range(6) if clusters[i] == g) for g in (0, 1, 3)]
    expected = 3 / 2 * sum(r * r for r in per_cluster) / w.sum() ** 2
    assert ratio_variance(y, w, ratio, clusters) == pytest.approx(expected)
    per_row = 6 / 5 * sum((y[i] - ratio * w[i]) ** 2 for i in range(6)) / w.sum() ** 2
    assert ratio_variance(y, w, ratio) == pytest.approx(per_row)


def test_a_small_fleet_with_device_effects_does_not_fail_its_baseline():
    # 40 devices, 50 sessions each per arm: sessions of one device share its effect. With sessions as the
    # independent units the tests are far too sure (15 of 20 A/A evaluations of this fleet failed); devices as
    # clusters keep false failures at the budget (0 of 20).
    failures = 0
    for seed in range(10):
        candidate, control = _few_devices(FleetProfile(), devices=40, sessions=2000, seed=seed)
        failures += decide(candidate, control).decision == "fail"
    assert failures <= 1


def test_a_whole_arm_failure_names_the_device_model_that_drives_it():
    profile = replace(FleetProfile(), affected=(DEVICE_MODELS[2],), crash_rate_affected=0.05)
    verdict = decide(*arms(profile, sessions=6000))
    whole = next(r for r in verdict.guardrails if r["kpi"] == "crash_free_sessions" and r["device_model"] is None)
    assert whole["state"] == "fail" and whole["driven_by"] == DEVICE_MODELS[2]
    assert f"mostly on {DEVICE_MODELS[2]}" in " ".join(verdict.reasons)
    assert all(r["driven_by"] is None for r in verdict.guardrails if r["state"] != "fail" or r["device_model"])
