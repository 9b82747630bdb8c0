"""Release KPIs against an independent computation from the rows each test creates."""

import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rollouts import kpis
from rollouts.models import Rollout, RolloutDecision

from .factories import devices_make, sessions_make

pytestmark = pytest.mark.django_db
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def rollout(catalog, *, status, started, ended=None, candidate=None, name="r"):
    return Rollout.objects.create(
        name=name, ml_model=catalog.yolo, baseline_version=catalog.v1, candidate_version=candidate or catalog.v2,
        stages=[{"percent": 100, "min_hours": 0, "min_sessions": 0}], status=status, started_at=started, ended_at=ended,
    )  # fmt: skip


def test_rollout_success_rate_counts_completed_over_ended_in_range(catalog):
    at = START + timedelta(days=3)
    for status in ["completed", "completed", "completed", "rolled_back"]:
        rollout(catalog, status=status, started=at, ended=at + timedelta(days=1))
    rollout(catalog, status="running", started=at)
    rollout(catalog, status="completed", started=START - timedelta(days=9), ended=START - timedelta(days=8))
    result = kpis.rollout_success_rate(start=START, end=END)
    assert (result["value"], result["completed"], result["ended"]) == (0.75, 3, 4)
    assert [row["status"] for row in result["rows"]] == ["completed", "completed", "completed", "rolled_back"]
    assert kpis.rollout_success_rate(start=END, end=END + timedelta(days=1))["value"] is None


def test_deployment_lead_time_is_version_creation_to_first_candidate_session(catalog):
    created = START + timedelta(days=1)
    type(catalog.v2).objects.filter(pk=catalog.v2.pk).update(first_seen_at=created)
    type(catalog.v3).objects.filter(pk=catalog.v3.pk).update(first_seen_at=created + timedelta(hours=10))
    device = devices_make(catalog, count=1)
    rng = np.random.default_rng(1)
    first = rollout(catalog, status="running", started=created + timedelta(hours=20))
    second = rollout(catalog, status="running", started=created + timedelta(hours=30), candidate=catalog.v3)
    sessions_make(
        catalog, devices=device, version=catalog.v2, per_device=1, started_at=created + timedelta(hours=5), rng=rng
    )
    sessions_make(
        catalog, devices=device, version=catalog.v2, per_device=1, started_at=created + timedelta(hours=26), rng=rng
    )
    sessions_make(
        catalog, devices=device, version=catalog.v3, per_device=1, started_at=created + timedelta(hours=40), rng=rng
    )
    result = kpis.deployment_lead_time(start=START, end=END)
    # independent: v2 26 h after creation (the 5 h session predates its rollout), v3 40 − 10 = 30 h
    assert result["items"] == [{"rollout": first.pk, "hours": 26.0}, {"rollout": second.pk, "hours": 30.0}]
    assert result["median_hours"] == statistics.median([26.0, 30.0])
    assert result["p90_hours"] == pytest.approx(26 + 0.9 * 4)


def test_mttr_over_alerts_and_crash_groups_resolved_in_range(catalog):
    from telemetry.models import Alert, AlertRule, CrashGroup, CrashGroupAuditEvent

    rule = AlertRule.objects.create(name="crash-free", kpi="crash_free_sessions", threshold=0.99)
    opened = START + timedelta(days=2)
    durations = [1.0, 3.0, 8.0]
    for i, hours in enumerate(durations):
        Alert.objects.create(
            rule=rule, cohort_key=f"1|{catalog.v2.pk}|1|{i}", cohort_label="x", value=0.9, threshold=0.99,
            opened_at=opened, status="resolved", resolved_at=opened + timedelta(hours=hours),
        )  # fmt: skip
    group = CrashGroup.objects.create(
        fingerprint="f" * 64, title="t", kind="native", first_seen_at=opened, last_seen_at=opened, status="resolved"
    )
    CrashGroupAuditEvent.objects.create(
        crash_group=group, action="resolve", actor_name="sam", created_at=opened + timedelta(hours=20)
    )
    CrashGroupAuditEvent.objects.create(
        crash_group=group, action="resolve", actor_name="sam", created_at=opened + timedelta(hours=30)
    )
    result = kpis.mttr(start=START, end=END)
    expected = [*durations, 20.0]
    assert result["incidents"] == 4
    assert result["median_hours"] == pytest.approx(float(np.percentile(expected, 50)))
    assert result["p90_hours"] == pytest.approx(float(np.percentile(expected, 90)))


def test_defect_escape_rate_counts_field_defects_against_lab_ones(catalog):
    from benchmarks.models import BenchmarkRun, BenchmarkSeries, Regression
    from telemetry.models import CrashGroup, CrashReport

    started = START + timedelta(days=5)
    r = rollout(catalog, status="rolled_back", started=started, ended=started + timedelta(days=1))
    RolloutDecision.objects.create(
        rollout=r, action="rollback", actor="guardrails", automatic=True, to_status="rolled_back"
    )
    device = devices_make(catalog, count=1)[0]
    for i, at in enumerate([started + timedelta(hours=2), started - timedelta(hours=2)]):  # the second predates it
        group = CrashGroup.objects.create(
            fingerprint=f"{i}" * 64, title="t", kind="native", first_seen_at=at, last_seen_at=at
        )
        CrashReport.objects.create(
            event_id=f"00000000-0000-0000-0000-00000000000{i}", device=device, session_id="s", group=group,
            fingerprint=group.fingerprint, device_model=catalog.pixel, model_version=catalog.v2,
            runtime_version=catalog.tflite_216, delegate=catalog.gpu, occurred_at=at, received_at=at, kind="native",
        )  # fmt: skip
    series = BenchmarkSeries.objects.create(
        key="s" * 64, ml_model=catalog.yolo, runtime=catalog.tflite, delegate=catalog.gpu, device_model=catalog.pixel
    )
    ident = dict(series=series, model_version=catalog.v2, runtime_version=catalog.tflite_216, delegate=catalog.gpu,
                 device_model=catalog.pixel)  # fmt: skip
    run = BenchmarkRun.objects.create(**ident, ran_at=started - timedelta(days=1))
    BenchmarkRun.objects.create(**ident, status="failed", ran_at=started - timedelta(days=1))
    BenchmarkRun.objects.create(**ident, status="failed", ran_at=started + timedelta(days=1))  # after: not "before"
    Regression.objects.create(
        series=series, metric="latency_p95_ms", change_run=run, before_value=1, after_value=2, change_pct=100,
        statistic=1, p_value=0.01, confidence=0.99, method="t", detected_at=started - timedelta(hours=5),
    )  # fmt: skip
    result = kpis.defect_escape_rate(start=START, end=END)
    # field: 1 crash group first seen after the start + 1 guardrail rollback; lab: 1 regression + 1 failed run
    assert (result["field"], result["lab"], result["value"]) == (2, 2, 0.5)


def test_observability_coverage_and_fallback_incidence(catalog):
    from telemetry.models import InferenceSession

    at = START + timedelta(days=10)
    devices = devices_make(catalog, count=4)
    rng = np.random.default_rng(2)
    sessions_make(catalog, devices=devices, version=catalog.v1, per_device=2, started_at=at, rng=rng)
    # one device has a session without peak RSS, another without accelerated fraction
    first_of = [InferenceSession.objects.filter(device=d).order_by("id").first().pk for d in devices[:2]]
    InferenceSession.objects.filter(pk=first_of[0]).update(peak_rss_mb=None)
    InferenceSession.objects.filter(pk=first_of[1]).update(accelerated_fraction=None, fallback_ops=["RESIZE_BILINEAR"])
    assert kpis.observability_coverage(start=START, end=END) == {"value": 0.5, "covered": 2, "active": 4}
    incidence = kpis.unsupported_operator_incidence(start=START, end=END)
    assert incidence == [
        {
            "month": "2026-11",
            "unsupported_cells": 0,
            "sessions_with_fallback_ops": 1,
            "sessions": 8,
            "fallback_share": 0.125,
        }
    ]
