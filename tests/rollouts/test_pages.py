"""Rollout pages: the list (fixed queries), the rollout page, and admins' actions with reasons."""

import pytest
from django.test import Client

from rollouts.models import Rollout

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_page(admin_user_role):
    client = Client()
    client.force_login(admin_user_role)
    return client


@pytest.fixture
def viewer_page(viewer_user):
    client = Client()
    client.force_login(viewer_user)
    return client


def test_the_list_shows_every_rollout_in_fixed_queries(make_rollout, admin_page, django_assert_num_queries):
    make_rollout(name="first")
    make_rollout(name="second", scope={"device_model": ["samsung-galaxy-a54"]})
    make_rollout(name="third", model="mobilenet-v3", baseline_version="1.0", candidate_version="2.0")
    # session, user, groups (role), rollouts with versions, decisions, the user's and their groups' permissions (may
    # they create one: the "New rollout" button)
    with django_assert_num_queries(7):
        page = admin_page.get("/rollouts/")
    body = page.content.decode()
    assert page.status_code == 200 and all(name in body for name in ("first", "second", "third"))


def test_the_rollout_page_shows_stages_guardrails_and_decisions(make_rollout, admin_page):
    rollout = make_rollout()
    body = admin_page.get(f"/rollouts/{rollout['id']}/").content.decode()
    assert "Stages" in body and "25 %" in body and "p95_latency_ms" in body and 'id="decision-log"' in body
    assert 'data-action="start"' in body and "<script>" not in body  # no inline scripts: JS is a static file
    assert "rollouts/rollouts.js" in body


def test_viewers_see_everything_and_no_actions(make_rollout, viewer_page):
    rollout = make_rollout()
    body = viewer_page.get(f"/rollouts/{rollout['id']}/").content.decode()
    assert "p95_latency_ms" in body and "data-action=" not in body
    assert viewer_page.post(f"/rollouts/{rollout['id']}/start/", {"reason": "x"}).status_code == 403
    assert Rollout.objects.get().status == "draft"


def test_an_admin_pauses_with_a_reason_and_rolls_back(make_rollout, admin_page):
    rollout = make_rollout()
    base = f"/rollouts/{rollout['id']}"
    admin_page.post(f"{base}/start/", {"reason": ""})
    missing = admin_page.post(f"{base}/pause/", {"reason": ""}, follow=True)
    assert "a reason is required to pause" in missing.content.decode()
    assert Rollout.objects.get().status == "running"
    admin_page.post(f"{base}/pause/", {"reason": "p95 looks odd on Pixel"})
    assert Rollout.objects.get().status == "paused"
    page = admin_page.post(f"{base}/rollback/", {"reason": "confirmed regression"}, follow=True)
    assert Rollout.objects.get().status == "rolled_back"
    body = page.content.decode()
    assert "confirmed regression" in body and "p95 looks odd on Pixel" in body
    conflict = admin_page.post(f"{base}/resume/", {"reason": ""}, follow=True)
    assert "Not done: cannot resume a rollout that is rolled_back" in conflict.content.decode()


def test_actions_need_the_csrf_token(make_rollout, admin_user_role):
    rollout = make_rollout()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user_role)
    assert client.post(f"/rollouts/{rollout['id']}/start/", {"reason": ""}).status_code == 403
    assert Rollout.objects.get().status == "draft"
