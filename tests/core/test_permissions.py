"""Scopes and roles on the API, through a real read endpoint: the OpenAPI-independent /api/v1/me/ is open to
any credential, so these use a tiny probe view wired to the shared permission classes."""

import pytest
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import CanRead, scope_required, user_permission_required

pytestmark = pytest.mark.django_db


class ReadProbe(APIView):
    permission_classes = [CanRead]

    def get(self, request):
        return Response({"ok": True})


class IngestProbe(APIView):
    permission_classes = [scope_required("ingest")]

    def post(self, request):
        return Response({"ok": True}, status=202)


class TriageProbe(APIView):
    permission_classes = [user_permission_required("compat.override_compatentry")]

    def post(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("probe/read/", ReadProbe.as_view()),
    path("probe/ingest/", IngestProbe.as_view()),
    path("probe/triage/", TriageProbe.as_view()),
]


@pytest.fixture(autouse=True)
def probe_urls(settings):
    settings.ROOT_URLCONF = __name__


def _client_with_key(api_client, make_api_key, **kwargs):
    _, raw_key = make_api_key(**kwargs)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api_client


def test_read_scope_key_can_read(api_client, make_api_key):
    client = _client_with_key(api_client, make_api_key, scopes=["read"])
    assert client.get("/probe/read/").status_code == 200


def test_ingest_only_key_cannot_read(api_client, make_api_key):
    client = _client_with_key(api_client, make_api_key, scopes=["ingest"])
    response = client.get("/probe/read/")
    assert response.status_code == 403
    assert "read" in response.json()["detail"]


def test_device_key_can_never_read_even_if_the_scope_slipped_in(api_client, make_api_key):
    api_key, raw_key = make_api_key(scopes=["ingest"], device_uid="pixel8-1")
    # Bypass clean(): a row edited directly in the database must still not read.
    type(api_key).objects.filter(pk=api_key.pk).update(scopes=["ingest", "read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = api_client.get("/probe/read/")
    assert response.status_code == 403
    assert response.json()["detail"] == "A device-bound API key can never read data."


def test_key_without_ingest_scope_gets_403_naming_the_scope(api_client, make_api_key):
    client = _client_with_key(api_client, make_api_key, scopes=["read"])
    response = client.post("/probe/ingest/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key lacks the 'ingest' scope."


def test_ingest_key_may_post(api_client, make_api_key):
    client = _client_with_key(api_client, make_api_key, scopes=["ingest"])
    assert client.post("/probe/ingest/", {}, format="json").status_code == 202


def test_anonymous_api_request_is_401(api_client):
    assert api_client.get("/probe/read/").status_code == 401


@pytest.mark.parametrize("role_fixture", ["viewer_user", "support_user", "admin_user_role"])
def test_every_role_can_read_with_a_session(request, client, role_fixture):
    client.force_login(request.getfixturevalue(role_fixture))
    assert client.get("/probe/read/").status_code == 200


def test_user_without_a_role_cannot_read(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    assert client.get("/probe/read/").status_code == 403


def test_session_post_needs_csrf(roles, support_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(support_user)
    response = client.post("/probe/triage/", {})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_viewer_cannot_override_but_support_can(client, viewer_user, support_user):
    client.force_login(viewer_user)
    assert client.post("/probe/triage/", {}).status_code == 403
    client.force_login(support_user)
    assert client.post("/probe/triage/", {}).status_code == 200


def test_api_key_cannot_do_user_actions(api_client, make_api_key):
    client = _client_with_key(api_client, make_api_key, scopes=["read", "ingest", "benchmarks:write"])
    response = client.post("/probe/triage/", {}, format="json")
    assert response.status_code == 403
    assert "API keys cannot perform this action" in response.json()["detail"]
