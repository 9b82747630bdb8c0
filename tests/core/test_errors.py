"""Every API error in the {"error", "detail"} shape (API.md); pages fail inside the site layout."""

import pytest
from rest_framework.exceptions import Throttled

from core.api.views import MeView
from core.errors import api_exception_handler

pytestmark = pytest.mark.django_db


def test_unknown_api_url_is_a_json_404(read_client):
    response = read_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "No API endpoint at /api/v1/no-such-thing/."}


def test_unknown_object_is_a_json_404(read_client):
    response = read_client.get("/api/v1/compat/device-models/no-such-phone/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and response.json()["detail"]


def test_wrong_method_is_a_json_405(read_client):
    response = read_client.delete("/api/v1/me/")

    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "detail": 'Method "DELETE" not allowed.'}


def test_field_errors_are_the_detail_of_a_400(admin_user_role, client):
    client.force_login(admin_user_role)

    response = client.post("/api/v1/compat/runtimes/", {"slug": ""}, content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid" and "slug" in body["detail"] and "name" in body["detail"]


def test_missing_credentials_keep_the_bearer_challenge(client):
    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_throttled_is_a_429_with_retry_after():
    response = api_exception_handler(Throttled(wait=7), {})

    assert response.status_code == 429 and response["Retry-After"] == "7"
    assert response.data["error"] == "throttled" and "7 seconds" in response.data["detail"]


def test_a_bug_in_an_api_view_is_a_json_500(read_client, monkeypatch):
    def boom(self, request):
        raise RuntimeError("bug")

    monkeypatch.setattr(MeView, "get", boom)
    read_client.raise_request_exception = False

    response = read_client.get("/api/v1/me/")

    assert response.status_code == 500
    assert response.json() == {"error": "server_error", "detail": "Internal error; it has been logged."}


def test_a_bug_in_a_page_is_the_500_page_in_the_layout(client, viewer_user, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("compat.views.status_changes.changes_list", boom)
    client.force_login(viewer_user)
    client.raise_request_exception = False

    response = client.get("/compat/changes/")

    assert response.status_code == 500
    assert b"<h1>Something went wrong</h1>" in response.content and b'class="topbar"' in response.content


def test_unknown_page_is_the_404_page_in_the_layout(client, viewer_user):
    client.force_login(viewer_user)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert b"<h1>Not found</h1>" in response.content and b'aria-label="Main"' in response.content
