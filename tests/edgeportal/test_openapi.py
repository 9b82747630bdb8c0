import re

import pytest

pytestmark = pytest.mark.django_db


def test_schema_is_public_and_describes_me(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "EdgePortal API"
    assert "/api/v1/me/" in schema["paths"]


def test_docs_page_uses_local_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    # Every script and stylesheet comes from this server (offline machines); a CSRF token may contain any text.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/") for url in assets), assets


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_every_operation_documents_its_errors_in_the_one_error_shape(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["schemas"]["Error"]["required"] == ["error", "detail"]
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        assert {"401", "403"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in {"post", "put", "patch"}:
            assert "400" in responses, (method, path)
        if method == "delete":
            assert "409" in responses, (method, path)


def test_every_operation_answers_only_statuses_its_schema_lists(client, make_api_key, admin_user_role):
    """A sweep over the whole API as anonymous, a read key, an ingest key and an admin session, with unknown ids and
    an empty body: every status returned is one the operation documents, and none is a 5xx."""
    from rest_framework.test import APIClient

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    callers = {"anonymous": APIClient()}
    for scope in ("read", "ingest"):
        callers[scope] = APIClient()
        callers[scope].credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(scopes=[scope])[1]}")
    callers["admin"] = APIClient()
    callers["admin"].force_login(admin_user_role)
    undocumented, checked = [], 0
    for path, method, operation in _operations(schema):
        url = re.sub(r"\{[^}]+\}", "999999", path)
        for name, caller in callers.items():
            response = getattr(caller, method)(url, {}, format="json")
            checked += 1
            if str(response.status_code) not in operation["responses"]:
                undocumented.append((name, method.upper(), path, response.status_code))
    assert checked == 4 * sum(1 for _ in _operations(schema))
    assert not undocumented, undocumented
