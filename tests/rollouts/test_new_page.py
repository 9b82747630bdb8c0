"""The new-rollout page: admins create a draft through the API's own validation, refused fields come back with
their errors and the inputs as typed, nothing half-created; viewers cannot; the CSRF token is required."""

import re

import pytest
from django.test import Client

from rollouts.models import Rollout, RolloutDecision

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_page(admin_user_role):
    client = Client()
    client.force_login(admin_user_role)
    return client


def form_post(**overrides) -> dict:
    post = {
        "name": "yolov8n 1.5 on the Pixel", "model": "yolov8n", "baseline_version": "1.4.0",
        "candidate_version": "1.5.0", "device_model": ["google-pixel-8"], "tier": ["1"], "os_version": "Android 15, ",
        "app_version": "", "stage_0_percent": "5", "stage_0_min_hours": "24", "stage_0_min_sessions": "2000",
        "stage_1_percent": "", "stage_2_percent": "100", "stage_2_min_hours": "0.5", "stage_2_min_sessions": "",
        "control_percent": "5", "guardrail_crash_free_sessions": "on", "guardrail_crash_free_sessions_max": "0.002",
        "guardrail_p95_latency_ms": "on", "guardrail_p95_latency_ms_max": "0.1",
        "guardrail_p95_latency_ms_per_device_model": "on", "guardrail_errors_per_1k_max": "0.5",
        "on_failure": "rollback", "auto_advance": "on",
    }  # fmt: skip
    post.update(overrides)
    return post


def field_errors(body: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, message in re.findall(r'data-field="(\w+)">([^<]*)<', body):
        errors.setdefault(field, []).append(message)
    return errors


def test_the_form_offers_the_catalog_and_sensible_defaults(admin_page, catalog):
    page = admin_page.get("/rollouts/new/")
    body = page.content.decode()
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in body
    assert '<option value="yolov8n"' in body and '<optgroup label="mobilenet-v3">' in body
    assert 'name="stage_0_percent" aria-label="stage 1 percent" inputmode="numeric" value="5"' in body
    assert 'name="guardrail_p95_latency_ms" checked' in body and 'name="guardrail_peak_rss_mb_p95">' in body
    assert (
        'name="guardrail_p95_latency_ms_per_device_model" aria-label="p95_latency_ms per device model" checked' in body
    )


def test_an_admin_creates_a_draft_and_lands_on_its_page(admin_page, catalog):
    page = admin_page.post("/rollouts/new/", form_post(), follow=True)
    rollout = Rollout.objects.get()
    assert page.redirect_chain == [(f"/rollouts/{rollout.pk}/", 302)]
    assert (rollout.status, rollout.ml_model.slug, rollout.candidate_version.version) == ("draft", "yolov8n", "1.5.0")
    assert rollout.scope == {"device_model": ["google-pixel-8"], "tier": [1], "os_version": ["Android 15"],
                             "app_version": []}  # fmt: skip
    assert rollout.stages == [{"percent": 5, "min_hours": 24, "min_sessions": 2000},
                              {"percent": 100, "min_hours": 0.5, "min_sessions": 0}]  # fmt: skip
    assert rollout.guardrails == [
        {"kpi": "crash_free_sessions", "max_regression": 0.002, "per_device_model": False},
        {"kpi": "p95_latency_ms", "max_regression": 0.1, "per_device_model": True},
    ]
    assert (rollout.on_failure, rollout.auto_advance, rollout.control_percent) == ("rollback", True, 5)
    assert RolloutDecision.objects.get().action == "create"
    assert "Draft rollout" in page.content.decode() and 'data-action="start"' in page.content.decode()


def test_refused_fields_show_their_errors_and_keep_what_was_typed(admin_page, catalog):
    post = form_post(candidate_version="9.9.9", stage_0_percent="50", stage_2_percent="20", control_percent="x",
                     guardrail_p95_latency_ms_max="-1", name="kept name")  # fmt: skip
    page = admin_page.post("/rollouts/new/", post)
    body = page.content.decode()
    assert page.status_code == 200 and not Rollout.objects.exists()
    errors = field_errors(body)
    assert errors["candidate_version"] == ["unknown version &#x27;9.9.9&#x27; of yolov8n"]
    assert errors["stages"] == ["stage row 3: percent 20 must exceed the previous 50"]  # the form's row, not index
    assert errors["control_percent"] == ["control_percent must be an integer within 1–50"]
    assert errors["guardrails"] == ["p95_latency_ms: max_regression must be a number &gt; 0"]
    assert set(errors) == {"candidate_version", "stages", "control_percent", "guardrails"}
    assert (
        'value="kept name"' in body
        and 'name="stage_2_percent" aria-label="stage 3 percent" inputmode="numeric" value="20"' in body
    )


def test_an_overlapping_rollout_is_refused_on_the_scope(admin_page, catalog):
    assert admin_page.post("/rollouts/new/", form_post()).status_code == 302
    page = admin_page.post("/rollouts/new/", form_post(name="again"))
    assert page.status_code == 200 and Rollout.objects.count() == 1
    assert field_errors(page.content.decode())["scope"][0].startswith("overlaps rollout")


def test_viewers_cannot_open_or_post_the_form(viewer_user, catalog):
    client = Client()
    client.force_login(viewer_user)
    assert client.get("/rollouts/new/").status_code == 403
    assert client.post("/rollouts/new/", form_post()).status_code == 403
    assert not Rollout.objects.exists()
    assert "New rollout" not in client.get("/rollouts/").content.decode()


def test_the_form_needs_the_csrf_token(admin_user_role, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user_role)
    assert client.post("/rollouts/new/", form_post()).status_code == 403
    assert not Rollout.objects.exists()
    assert 'href="/rollouts/new/"' in client.get("/rollouts/").content.decode()
