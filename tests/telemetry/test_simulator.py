"""The fleet simulator posts through the real HTTP stack and its planted bad cohorts show up in the KPIs."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from compat.models import CompatEvidence
from core.models import ApiKey
from core.slo import slo_targets_get
from telemetry.demo import fleet_simulate
from telemetry.kpi.selectors import kpis_get
from telemetry.models import CrashGroup, CrashReport, HourlyRollup, InferenceSession
from telemetry.simulator import catalog_snapshot, device_batches, fleet_plan
from tests.telemetry.fleet_factories import catalog_make

END = datetime(2026, 11, 21, 12, tzinfo=UTC)


def last_noon() -> datetime:
    """The latest noon (UTC) that has passed: field evidence covers the 7 days before now, so a fleet pushed
    through the rollups must end recently; always ending at noon keeps the diurnal curve the same on every day."""
    now = datetime.now(UTC)
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    return noon if noon <= now else noon - timedelta(days=1)


def test_plan_gives_each_device_a_stack_its_runtime_has(db):
    catalog_make()
    plan = fleet_plan(devices=20, start=END - timedelta(days=3), end=END, seed=3, catalog=catalog_snapshot())
    assert len(plan.devices) == 20
    assert plan.fallback_device_model == "samsung-galaxy-a54"
    assert all(s.runtime == "tflite" and s.delegate in {"gpu", "cpu"} for d in plan.devices for s in d.stacks)
    fallback = [d for d in plan.devices if d.model["slug"] == plan.fallback_device_model]
    assert fallback and all(d.os_update_at is not None for d in fallback)
    assert plan.slow_model == "yolov8n" and plan.slow_model_version


def test_events_are_valid_sdk_events_on_the_diurnal_curve(db):
    import numpy as np

    catalog_make()
    plan = fleet_plan(devices=5, start=END - timedelta(days=2), end=END, seed=3, catalog=catalog_snapshot())
    rng = np.random.default_rng(1)
    events = [e for d in plan.devices for _, batch in device_batches(plan=plan, device=d, rng=rng) for e in batch]
    sessions = [e for e in events if e["type"] == "session"]
    assert len(sessions) == plan.counts["sessions"] > 20
    assert all(sum(e["latency_histogram"]["counts"].values()) == e["inferences"] for e in sessions)
    assert len({e["event_id"] for e in events}) == len(events)


@pytest.mark.django_db(transaction=True)
def test_simulated_fleet_goes_through_http_and_plants_the_bad_cohorts():
    catalog_make()
    end = last_noon()
    report = fleet_simulate(devices=24, days=3, seed=5, end=end)
    plan = report.plan
    assert report.errors == []
    assert report.rejected == 0
    assert report.accepted == plan.counts["sessions"] + plan.counts["crashes"]
    assert InferenceSession.objects.count() == plan.counts["sessions"]
    assert not ApiKey.objects.filter(name__startswith="simulate_fleet").exists()  # temporary keys are removed
    assert HourlyRollup.objects.aggregate(n=Sum("sessions"))["n"] == plan.counts["sessions"]

    start, target = end - timedelta(days=3), slo_targets_get().accelerator_utilization
    fallback = {"device_model": plan.fallback_device_model, "delegate": "gpu"}
    before = kpis_get(start=start, end=end, filters={**fallback, "os_version": "Android 14"})
    after = kpis_get(start=start, end=end, filters={**fallback, "os_version": "Android 15"})
    assert before.accelerator_utilization >= target > after.accelerator_utilization
    assert after.p95_latency_ms > 1.5 * before.p95_latency_ms

    spike = CrashGroup.objects.order_by("-event_count").first()
    assert spike.kind == "native" and spike.event_count >= 3
    assert set(CrashReport.objects.filter(group=spike).values_list("device_model__slug", flat=True)) == {
        "google-pixel-8"
    }

    slow = {"model": plan.slow_model}
    new = kpis_get(start=start, end=end, filters={**slow, "model_version": plan.slow_model_version})
    old = kpis_get(start=start, end=end, filters={**slow, "model_version": plan.slow_from_version})
    assert new.sessions > 0 and old.sessions > 0
    assert new.p95_latency_ms > 1.3 * old.p95_latency_ms
    assert CompatEvidence.objects.filter(source="field", source_ref="field:7d").exists()
