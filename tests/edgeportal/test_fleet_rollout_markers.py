"""The fleet page's time charts mark the rollout events of the model (and cohort) in scope, composed by the project:
telemetry's own view draws none."""

from datetime import timedelta

import pytest
from django.test import RequestFactory

from compat.models import MLModel, ModelVersion
from rollouts.models import Rollout, RolloutDecision
from tests.telemetry.test_fleet_pages import fleet  # noqa: F401  (the fixture: 30 hours of Pixel and Galaxy sessions)

pytestmark = pytest.mark.django_db
TIME_CHARTS = {"chart-latency", "chart-crash-free", "chart-errors", "chart-accelerator", "chart-adoption"}


@pytest.fixture
def rollouts(fleet):  # noqa: F811
    """yolov8n on the Pixel only: start, advance, pause, rollback (and an evaluation, not an event) inside the range,
    a start from before it; a mobilenet rollout over the whole fleet started in range."""
    pixel_only = Rollout.objects.create(
        name="yolo 1.5 on Pixel", ml_model=fleet.yolo, baseline_version=fleet.v1, candidate_version=fleet.v2,
        scope={"device_model": ["google-pixel-8"]}, stages=[{"percent": 5}, {"percent": 100}], status="rolled_back",
    )  # fmt: skip
    at = fleet.start + timedelta(hours=2)
    for hours, action, stage, automatic in (
        (0, "start", 0, False), (3, "advance", 1, False), (4, "evaluate", 1, True), (6, "pause", 1, True),
        (8, "rollback", 1, False), (-24 * 40, "start", 0, False),
    ):  # fmt: skip
        RolloutDecision.objects.create(rollout=pixel_only, action=action, actor="x", automatic=automatic, stage=stage,
                                       at=at + timedelta(hours=hours))  # fmt: skip
    mobilenet = MLModel.objects.create(slug="mobilenet-v3", name="MobileNet v3")
    versions = [ModelVersion.objects.create(ml_model=mobilenet, version=v) for v in ("1.0", "2.0")]
    everywhere = Rollout.objects.create(
        name="mobilenet 2", ml_model=mobilenet, baseline_version=versions[0], candidate_version=versions[1],
        stages=[{"percent": 100}], status="running",
    )  # fmt: skip
    RolloutDecision.objects.create(rollout=everywhere, action="start", actor="x", at=at + timedelta(hours=1))
    return at


def _marks(response) -> dict[str, list[str]]:
    return {
        chart.chart_id: [s["label"]["text"] for s in chart.figure["layout"].get("shapes", []) if s.get("xref") == "x"]
        for chart in response.context["charts"]
    }


def test_every_time_chart_marks_the_rollout_events_in_range(client, viewer_user, rollouts):
    client.force_login(viewer_user)
    marks = _marks(client.get("/fleet/?range=7d"))
    expected = [
        "yolo 1.5 on Pixel: start", "mobilenet 2: start", "yolo 1.5 on Pixel: advance to stage 2",
        "yolo 1.5 on Pixel: pause (guardrails)", "yolo 1.5 on Pixel: rollback",
    ]  # fmt: skip
    assert {chart_id: marks[chart_id] for chart_id in TIME_CHARTS} == dict.fromkeys(TIME_CHARTS, expected)
    assert marks["chart-fallback-ops"] == [] and marks["chart-memory"] == []  # not time charts


def test_the_lines_stand_at_the_decision_times_and_the_text_alternative_names_them(client, viewer_user, rollouts):
    client.force_login(viewer_user)
    latency = next(c for c in client.get("/fleet/?range=7d").context["charts"] if c.chart_id == "chart-latency")
    starts = [s["x0"] for s in latency.figure["layout"]["shapes"] if s.get("xref") == "x"]
    assert starts[0] == rollouts and starts[-1] == rollouts + timedelta(hours=8)
    assert f"yolo 1.5 on Pixel: rollback at {rollouts + timedelta(hours=8):%Y-%m-%d %H:%M}" in latency.description


def test_the_model_in_scope_picks_its_rollouts(client, viewer_user, rollouts):
    client.force_login(viewer_user)
    assert _marks(client.get("/fleet/?range=7d&model=mobilenet-v3"))["chart-latency"] == ["mobilenet 2: start"]
    marks = _marks(client.get("/fleet/?range=7d&model=yolov8n"))["chart-latency"]
    assert len(marks) == 4 and all(mark.startswith("yolo 1.5 on Pixel") for mark in marks)


def test_a_cohort_outside_a_rollouts_scope_does_not_see_its_events(client, viewer_user, rollouts):
    client.force_login(viewer_user)
    assert _marks(client.get("/fleet/?range=7d&device_model=samsung-galaxy-a54"))["chart-latency"] == [
        "mobilenet 2: start"
    ]
    assert len(_marks(client.get("/fleet/?range=7d&device_model=google-pixel-8"))["chart-latency"]) == 5


def test_telemetrys_own_view_marks_nothing(viewer_user, rollouts):
    from telemetry.fleet import views as fleet_views

    request = RequestFactory().get("/fleet/?range=7d")
    request.user = viewer_user
    response = fleet_views.fleet_health(request)
    assert response.status_code == 200 and b"yolo 1.5 on Pixel" not in response.content


def test_the_markers_cost_one_query_whatever_the_events(client, viewer_user, rollouts, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(viewer_user)
    client.get("/fleet/?range=7d")
    with CaptureQueriesContext(connection) as with_events:
        client.get("/fleet/?range=7d")
    RolloutDecision.objects.all().delete()
    with django_assert_num_queries(len(with_events)):
        client.get("/fleet/?range=7d")
    assert sum("rollouts_rolloutdecision" in q["sql"] for q in with_events.captured_queries) == 1
