"""The rollout API end to end: create, every action and its 409s, bad input, permissions (API.md Rollouts)."""

import pytest

from rollouts.models import Rollout, RolloutDecision

from .conftest import rollout_body

pytestmark = pytest.mark.django_db


def post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def test_create_returns_the_draft_rollout_in_the_api_shape(make_rollout):
    rollout = make_rollout()
    assert rollout["status"] == "draft"
    assert (rollout["model"], rollout["baseline_version"], rollout["candidate_version"]) == (
        "yolov8n",
        "1.4.0",
        "1.5.0",
    )
    assert rollout["stage"] == 0 and rollout["percent"] == 5 and rollout["started_at"] is None
    assert rollout["stages"][2] == {"percent": 100, "min_hours": 0, "min_sessions": 0}
    assert {row["kpi"] for row in rollout["guardrails"]} == {
        "crash_free_sessions", "p95_latency_ms", "errors_per_1k", "accelerator_utilization"
    }  # fmt: skip
    assert all(row["state"] == "insufficient_data" for row in rollout["guardrails"])
    assert set(rollout["arms"]) == {"candidate", "control"}
    assert [d["action"] for d in rollout["decisions"]] == ["create"]
    assert rollout["decisions"][0]["by"] == "admin-ada"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"model": "nope"}, "model"),
        ({"baseline_version": "9.9"}, "baseline_version"),
        ({"candidate_version": "9.9"}, "candidate_version"),
        ({"candidate_version": "1.4.0"}, "candidate_version"),
        ({"stages": [{"percent": 25}, {"percent": 5}]}, "stages"),
        ({"stages": [{"percent": 5}, {"percent": 5}]}, "stages"),
        ({"stages": [{"percent": 0}]}, "stages"),
        ({"stages": [{"percent": 101}]}, "stages"),
        ({"stages": []}, "stages"),
        ({"stages": [{"percent": 5, "min_hours": -1}]}, "stages"),
        ({"guardrails": [{"kpi": "happiness"}]}, "guardrails"),
        ({"guardrails": [{"kpi": {}}]}, "guardrails"),  # unhashable: was a 500 (schema fuzzing)
        ({"guardrails": [{"kpi": ["p95_latency_ms"]}]}, "guardrails"),
        ({"guardrails": [{"kpi": "errors_per_1k", "max_regression": -1}]}, "guardrails"),
        ({"scope": {"device_model": ["no-such-phone"]}}, "scope"),
        ({"scope": {"colour": ["red"]}}, "scope"),
        ({"control_percent": 0}, "control_percent"),
        ({"on_failure": "explode"}, "on_failure"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_creates_nothing(admin_client, catalog, overrides, field):
    response = post(admin_client, "/api/v1/rollouts/", rollout_body(**overrides))
    assert response.status_code == 400
    assert field in response.json()["detail"], response.json()
    assert not Rollout.objects.exists() and not RolloutDecision.objects.exists()


def test_several_bad_fields_are_all_named(admin_client, catalog):
    response = post(admin_client, "/api/v1/rollouts/", rollout_body(model="yolov8n", candidate_version="x", stages=[]))
    assert {"candidate_version", "stages"} <= set(response.json()["detail"])


def test_an_overlapping_rollout_of_the_same_model_is_refused(make_rollout, admin_client):
    first = make_rollout()
    response = post(admin_client, "/api/v1/rollouts/", rollout_body(scope={"tier": [1]}))
    assert response.status_code == 400
    assert f"rollout {first['id']}" in response.json()["detail"]["scope"][0]
    assert Rollout.objects.count() == 1


def test_disjoint_scopes_and_other_models_may_run_side_by_side(make_rollout):
    make_rollout()
    make_rollout(scope={"device_model": ["samsung-galaxy-a54"]})
    make_rollout(model="mobilenet-v3", baseline_version="1.0", candidate_version="2.0")
    assert Rollout.objects.count() == 3


def test_an_ended_rollout_no_longer_overlaps(make_rollout, admin_client):
    first = make_rollout()
    post(admin_client, f"/api/v1/rollouts/{first['id']}/start/")
    post(admin_client, f"/api/v1/rollouts/{first['id']}/rollback/", {"reason": "bad"})
    make_rollout(candidate_version="1.6.0")


def test_the_whole_lifecycle_through_the_api(make_rollout, admin_client):
    rollout = make_rollout()
    base = f"/api/v1/rollouts/{rollout['id']}"
    started = post(admin_client, f"{base}/start/").json()
    assert started["status"] == "running" and started["started_at"]
    assert post(admin_client, f"{base}/pause/", {"reason": "weekend"}).json()["status"] == "paused"
    assert post(admin_client, f"{base}/resume/").json()["status"] == "running"
    advanced = post(admin_client, f"{base}/advance/", {"reason": "looks fine"}).json()
    assert (advanced["stage"], advanced["percent"]) == (1, 25)
    assert post(admin_client, f"{base}/advance/", {"reason": "still fine", "stage": 1}).json()["percent"] == 100
    completed = post(admin_client, f"{base}/complete/").json()
    assert completed["status"] == "completed" and completed["ended_at"]
    actions = [(d["action"], d["from_status"], d["to_status"]) for d in completed["decisions"]]
    assert actions == [
        ("create", "", "draft"), ("start", "draft", "running"), ("pause", "running", "paused"),
        ("resume", "paused", "running"), ("advance", "running", "running"), ("advance", "running", "running"),
        ("complete", "running", "completed"),
    ]  # fmt: skip
    assert completed["decisions"][2]["reason"] == "weekend"


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ([], "pause"),
        ([], "resume"),
        ([], "advance"),
        ([], "rollback"),
        ([], "complete"),
        (["start"], "start"),
        (["start"], "resume"),
        (["start", "pause"], "pause"),
        (["start", "pause"], "advance"),
        (["start"], "complete"),  # not at the last stage yet
        (["start", "rollback"], "start"),
        (["start", "rollback"], "resume"),
        (["start", "rollback"], "rollback"),
        (["start", "rollback"], "pause"),
        (["start", "rollback"], "complete"),
    ],
)
def test_an_action_that_does_not_apply_is_a_409_and_changes_nothing(make_rollout, admin_client, setup, action):
    rollout = make_rollout()
    base = f"/api/v1/rollouts/{rollout['id']}"
    for step in setup:
        assert post(admin_client, f"{base}/{step}/", {"reason": "setup"}).status_code == 200
    before = Rollout.objects.get(pk=rollout["id"])
    decisions = RolloutDecision.objects.count()
    response = post(admin_client, f"{base}/{action}/", {"reason": "try"})
    assert response.status_code == 409, response.json()
    assert response.json()["status"] == before.status
    after = Rollout.objects.get(pk=rollout["id"])
    assert (after.status, after.stage) == (before.status, before.stage)
    assert RolloutDecision.objects.count() == decisions


def test_advance_at_the_last_stage_is_a_409(make_rollout, admin_client):
    rollout = make_rollout(stages=[{"percent": 10}, {"percent": 100}])
    base = f"/api/v1/rollouts/{rollout['id']}"
    post(admin_client, f"{base}/start/")
    assert post(admin_client, f"{base}/advance/", {"reason": "go"}).status_code == 200
    assert post(admin_client, f"{base}/advance/", {"reason": "again"}).status_code == 409


def test_a_retried_advance_with_the_stage_it_saw_does_not_skip_a_stage(make_rollout, admin_client):
    rollout = make_rollout()
    base = f"/api/v1/rollouts/{rollout['id']}"
    post(admin_client, f"{base}/start/")
    assert post(admin_client, f"{base}/advance/", {"reason": "go", "stage": 0}).status_code == 200
    assert post(admin_client, f"{base}/advance/", {"reason": "go", "stage": 0}).status_code == 409
    assert Rollout.objects.get(pk=rollout["id"]).stage == 1


@pytest.mark.parametrize("action", ["pause", "rollback", "advance"])
def test_pause_rollback_and_manual_advance_need_a_reason(make_rollout, admin_client, action):
    rollout = make_rollout()
    base = f"/api/v1/rollouts/{rollout['id']}"
    post(admin_client, f"{base}/start/")
    response = post(admin_client, f"{base}/{action}/", {"reason": "  "})
    assert response.status_code == 400 and "reason" in response.json()["detail"]
    assert Rollout.objects.get(pk=rollout["id"]).status == "running"


def test_unknown_rollout_is_a_404(admin_client, catalog):
    assert post(admin_client, "/api/v1/rollouts/999/start/").status_code == 404
    assert admin_client.get("/api/v1/rollouts/999/").status_code == 404


def test_viewers_and_support_read_but_change_nothing(make_rollout, viewer_client, support_user):
    from rest_framework.test import APIClient

    rollout = make_rollout()
    support = APIClient()
    support.force_login(support_user)
    for client in (viewer_client, support):
        assert client.get(f"/api/v1/rollouts/{rollout['id']}/").status_code == 200
        assert post(client, f"/api/v1/rollouts/{rollout['id']}/start/").status_code == 403
        assert post(client, "/api/v1/rollouts/", rollout_body(name="other")).status_code == 403
    assert Rollout.objects.get().status == "draft"


def test_a_rollouts_write_key_acts_and_is_recorded_by_name(catalog, writer_client):
    created = post(writer_client, "/api/v1/rollouts/", rollout_body())
    assert created.status_code == 201
    started = post(writer_client, f"/api/v1/rollouts/{created.json()['id']}/start/").json()
    assert started["decisions"][-1]["by"] == "apikey:release-ci"


def test_read_keys_read_and_cannot_write(make_rollout, read_client):
    rollout = make_rollout()
    assert read_client.get("/api/v1/rollouts/").json()["count"] == 1
    assert post(read_client, f"/api/v1/rollouts/{rollout['id']}/start/").status_code == 403


def test_anonymous_is_a_401(catalog):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/rollouts/").status_code == 401


def test_analysis_answers_200_whatever_the_decision(make_rollout, read_client):
    rollout = make_rollout()
    body = read_client.get(f"/api/v1/rollouts/{rollout['id']}/analysis/").json()
    assert body == {"decision": "hold", "pass": False, "reasons": ["not evaluated yet"]}


def test_the_list_runs_a_fixed_number_of_queries(make_rollout, admin_client, django_assert_num_queries):
    for index, device_model in enumerate(["google-pixel-8", "samsung-galaxy-a54"]):
        rollout = make_rollout(name=f"r{index}", scope={"device_model": [device_model]})
        post(admin_client, f"/api/v1/rollouts/{rollout['id']}/start/")
    make_rollout(model="mobilenet-v3", baseline_version="1.0", candidate_version="2.0")
    # session + user + groups (role), count, rollouts with their versions, their decisions
    with django_assert_num_queries(6):
        body = admin_client.get("/api/v1/rollouts/").json()
    assert body["count"] == 3 and all(r["decisions"] for r in body["results"])


def test_rollout_events_list_the_decisions_for_time_charts(make_rollout, admin_client, django_assert_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from rollouts.selectors import rollout_events

    rollout = make_rollout()
    post(admin_client, f"/api/v1/rollouts/{rollout['id']}/start/")
    post(admin_client, f"/api/v1/rollouts/{rollout['id']}/rollback/", {"reason": "bad"})
    now = timezone.now()
    with django_assert_num_queries(1):
        events = rollout_events(start=now - timedelta(hours=1), end=now + timedelta(hours=1), model_slug="yolov8n")
    assert [(e["action"], e["rollout"]) for e in events] == [("start", rollout["id"]), ("rollback", rollout["id"])]
