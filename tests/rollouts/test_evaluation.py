"""Guardrail evaluation on real session rows: proceed, hold, fail (rolled back or paused, with why), blocked."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from rollouts.assignment import device_arm
from rollouts.evaluation import rollout_evaluate
from rollouts.models import Rollout, RolloutDecision

from .conftest import rollout_body
from .factories import devices_make, sessions_make

pytestmark = pytest.mark.django_db

GUARDRAILS = [
    {"kpi": "crash_free_sessions", "max_regression": 0.05, "per_device_model": True},
    {"kpi": "p95_latency_ms", "max_regression": 0.10, "per_device_model": True},
    {"kpi": "errors_per_1k", "max_regression": 5.0},
]


@pytest.fixture
def fleet(catalog):
    return devices_make(catalog, count=150) + devices_make(catalog, count=150, device_model=catalog.galaxy)


def started(admin_client, **overrides) -> Rollout:
    body = rollout_body(
        scope={}, stages=[{"percent": 50, "min_hours": 1, "min_sessions": 150}, {"percent": 100}], control_percent=40,
        guardrails=GUARDRAILS, **overrides,
    )  # fmt: skip
    rollout_id = admin_client.post("/api/v1/rollouts/", body, format="json").json()["id"]
    admin_client.post(f"/api/v1/rollouts/{rollout_id}/start/", format="json")
    Rollout.objects.filter(pk=rollout_id).update(stage_started_at=timezone.now() - timedelta(hours=3))
    return Rollout.objects.get(pk=rollout_id)


def report(catalog, rollout, fleet, *, per_device=3, bad_on=None, seed=3):
    """Every device reports sessions on the version its arm runs; `bad_on` devices' candidate is slow and crashy."""
    rng = np.random.default_rng(seed)
    at = timezone.now() - timedelta(hours=1)
    for device in fleet:
        arm = device_arm(rollout_id=rollout.pk, device_uid=device.uid, percent=rollout.percent, control_percent=40)
        version = catalog.v2 if arm == "candidate" else catalog.v1
        bad = arm == "candidate" and device.device_model == bad_on
        sessions_make(
            catalog, devices=[device], version=version, per_device=per_device, started_at=at, rng=rng,
            latency_ms=52.0 if bad else 40.0, crash_rate=0.4 if bad else 0.005,
        )  # fmt: skip


def test_a_good_candidate_proceeds_and_auto_advances(catalog, admin_client, fleet):
    rollout = started(admin_client, auto_advance=True)
    report(catalog, rollout, fleet)
    body = admin_client.post(f"/api/v1/rollouts/{rollout.pk}/evaluate/", format="json").json()
    assert body["stage"] == 1 and body["percent"] == 100 and body["status"] == "running", body["verdict"]
    advance = body["decisions"][-1]
    assert (advance["action"], advance["by"], advance["automatic"]) == ("advance", "guardrails", True)
    assert "every guardrail passes" in advance["reason"]


def test_a_good_candidate_without_auto_advance_holds_its_stage_with_both_arms(catalog, admin_client, fleet):
    rollout = started(admin_client)
    report(catalog, rollout, fleet)
    body = admin_client.post(f"/api/v1/rollouts/{rollout.pk}/evaluate/", format="json").json()
    assert body["verdict"]["decision"] == "proceed" and body["stage"] == 0
    candidate, control = body["arms"]["candidate"], body["arms"]["control"]
    assert candidate["sessions"] >= 150 and control["sessions"] >= 150
    assert set(candidate["by_device_model"]) == {"google-pixel-8", "samsung-galaxy-a54"}
    assert 35 < candidate["kpis"]["p95_latency_ms"] < 60
    low, high = candidate["intervals"]["crash_free_sessions"]
    assert low <= candidate["kpis"]["crash_free_sessions"] <= high
    assert {row["state"] for row in body["guardrails"]} == {"pass"}
    assert len(body["guardrails"]) == 2 * 3 + 1


def test_a_regression_on_one_device_model_is_caught_and_rolled_back(catalog, admin_client, fleet):
    rollout = started(admin_client)
    report(catalog, rollout, fleet, per_device=3, bad_on=catalog.galaxy)
    rollout = rollout_evaluate(rollout_id=rollout.pk)
    assert rollout.status == "rolled_back" and rollout.verdict["decision"] == "fail"
    failed = {(row["kpi"], row["device_model"]) for row in rollout.guardrail_results if row["state"] == "fail"}
    assert ("p95_latency_ms", "samsung-galaxy-a54") in failed
    assert ("crash_free_sessions", "samsung-galaxy-a54") in failed
    assert not any(model == "google-pixel-8" for _, model in failed)
    decision = RolloutDecision.objects.filter(rollout=rollout).last()
    assert (decision.action, decision.actor, decision.automatic, decision.to_status) == (
        "rollback", "guardrails", True, "rolled_back"
    )  # fmt: skip
    assert "samsung-galaxy-a54" in decision.reason


def test_on_failure_pause_pauses(catalog, admin_client, fleet):
    rollout = started(admin_client, on_failure="pause")
    report(catalog, rollout, fleet, per_device=3, bad_on=catalog.galaxy)
    assert rollout_evaluate(rollout_id=rollout.pk).status == "paused"
    # evaluating again records the verdict but takes no second action
    assert rollout_evaluate(rollout_id=rollout.pk).status == "paused"
    assert RolloutDecision.objects.filter(rollout=rollout, action="pause").count() == 1


def test_below_the_stage_minimums_nothing_is_decided(catalog, admin_client, fleet):
    rollout = started(admin_client)
    report(catalog, rollout, fleet[:60], per_device=1, bad_on=catalog.galaxy)
    rollout = rollout_evaluate(rollout_id=rollout.pk)
    assert rollout.status == "running" and rollout.verdict["decision"] == "hold"
    assert rollout.verdict["reasons"][0].startswith("candidate has ")
    assert rollout.verdict["reasons"][0].endswith(" of 150 sessions needed")


def test_an_open_lab_regression_blocks_promotion(catalog, admin_client, fleet):
    from benchmarks.models import BenchmarkRun, BenchmarkSeries, Regression

    rollout = started(admin_client, auto_advance=True)
    report(catalog, rollout, fleet)
    series = BenchmarkSeries.objects.create(
        key="k" * 64, ml_model=catalog.yolo, runtime=catalog.tflite, delegate=catalog.gpu, device_model=catalog.pixel
    )
    run = BenchmarkRun.objects.create(
        series=series, model_version=catalog.v2, runtime_version=catalog.tflite_216, delegate=catalog.gpu,
        device_model=catalog.pixel,
    )  # fmt: skip
    Regression.objects.create(
        series=series, metric="latency_p95_ms", change_run=run, before_value=10, after_value=13, change_pct=30,
        statistic=5, p_value=0.001, confidence=0.99, method="test",
    )  # fmt: skip
    body = admin_client.post(f"/api/v1/rollouts/{rollout.pk}/evaluate/", format="json").json()
    assert body["verdict"]["decision"] == "blocked" and body["stage"] == 0
    assert "tflite/gpu/google-pixel-8" in body["verdict"]["reasons"][0]
    response = admin_client.post(f"/api/v1/rollouts/{rollout.pk}/advance/", {"reason": "force"}, format="json")
    assert response.status_code == 409 and "blocked" in response.json()["error"]
    analysis = admin_client.get(f"/api/v1/rollouts/{rollout.pk}/analysis/").json()
    assert analysis["decision"] == "blocked" and analysis["pass"] is False


def test_draft_and_ended_rollouts_are_left_alone(catalog, admin_client):
    draft_id = admin_client.post("/api/v1/rollouts/", rollout_body(), format="json").json()["id"]
    assert rollout_evaluate(rollout_id=draft_id).verdict is None
