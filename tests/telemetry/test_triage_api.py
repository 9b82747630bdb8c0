import json

import pytest
from rest_framework.test import APIClient

from telemetry.models import CrashGroup, CrashGroupAuditEvent

from .fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def group():
    c = catalog_make()
    return crash_group_make(c, devices=[device_make(c)])


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_support_patches_status_assignee_and_fixed_in_version(group, support_user):
    response = _client(support_user).patch(
        f"/api/v1/telemetry/crash-groups/{group.pk}/",
        {"status": "resolved", "assignee": "support-sam", "resolved_in_version": "3.3.0"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "resolved" and response.json()["assignee"] == "support-sam"
    group.refresh_from_db()
    assert (group.status, group.resolved_in_version, group.assignee) == ("resolved", "3.3.0", support_user)
    assert set(CrashGroupAuditEvent.objects.values_list("action", flat=True)) == {"assign", "resolve"}


@pytest.mark.parametrize(
    "path,body",
    [("", {"status": "ignored"}), ("notes/", {"body": "hi"}), ("merge/", {"source": 1})],
)
def test_viewer_gets_403_on_every_triage_action_and_nothing_changes(group, viewer_user, path, body):
    response = _client(viewer_user).generic(
        "PATCH" if not path else "POST",
        f"/api/v1/telemetry/crash-groups/{group.pk}/{path}",
        data=json.dumps(body),
        content_type="application/json",
    )
    assert response.status_code == 403
    group.refresh_from_db()
    assert group.status == "new" and not CrashGroupAuditEvent.objects.exists()


def test_api_keys_cannot_triage_even_with_read_scope(group, read_client):
    response = read_client.patch(f"/api/v1/telemetry/crash-groups/{group.pk}/", {"status": "ignored"}, format="json")
    assert response.status_code == 403


def test_fixed_in_version_without_resolving_is_a_400(group, support_user):
    response = _client(support_user).patch(
        f"/api/v1/telemetry/crash-groups/{group.pk}/", {"resolved_in_version": "3.3.0"}, format="json"
    )
    assert response.status_code == 400


def test_notes_post_then_list(group, support_user):
    client = _client(support_user)
    created = client.post(f"/api/v1/telemetry/crash-groups/{group.pk}/notes/", {"body": "Repro on A54"}, format="json")
    assert created.status_code == 201 and created.json()["author"] == "support-sam"
    listed = client.get(f"/api/v1/telemetry/crash-groups/{group.pk}/notes/")
    assert [n["body"] for n in listed.json()] == ["Repro on A54"]


def test_merge_endpoint_folds_the_source_into_the_target(group, support_user):
    source = CrashGroup.objects.create(
        fingerprint="f" * 64, title="dup", kind="native", first_seen_at=group.first_seen_at,
        last_seen_at=group.last_seen_at, event_count=5, device_count=0,
    )  # fmt: skip
    response = _client(support_user).post(
        f"/api/v1/telemetry/crash-groups/{group.pk}/merge/", {"source": source.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["event_count"] == group.event_count + 5
    assert not CrashGroup.objects.filter(pk=source.pk).exists()


def test_merge_with_an_unknown_source_is_404(group, support_user):
    response = _client(support_user).post(
        f"/api/v1/telemetry/crash-groups/{group.pk}/merge/", {"source": 999999}, format="json"
    )
    assert response.status_code == 404


def test_get_on_the_triage_route_serves_the_read_api_detail(group, read_client):
    response = read_client.get(f"/api/v1/telemetry/crash-groups/{group.pk}/")
    assert response.status_code == 200
    assert response.json()["id"] == group.pk


def test_the_read_list_still_comes_from_the_router(group, read_client):
    response = read_client.get("/api/v1/telemetry/crash-groups/")
    assert response.status_code == 200 and response.json()["count"] == 1
