"""Hostile filter values and writes: every one is a 4xx (or a page), never a 500."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = ["100%", "a\x00b", "99999999999999999999", "9999-12-31T23:59:59+23:59", "1e309"]
PAGE_PATHS = ["/compat/", "/compat/export.csv", "/compat/export.json", "/compat/changes/"]
API_PATHS = [
    "/api/v1/compat/entries/",
    "/api/v1/compat/device-models/",
    "/api/v1/compat/runtimes/",
    "/api/v1/compat/runtime-versions/",
    "/api/v1/compat/delegates/",
    "/api/v1/compat/models/",
    "/api/v1/compat/model-versions/",
]
PARAMS = [
    "q",
    "tier",
    "device_model",
    "device_model_id",
    "model",
    "model_version",
    "runtime_version",
    "delegate",
    "vendor",
    "status",
    "days",
    "accelerator",
    "slug",
    "version",
    "page",
    "overridden",
    "kind",
    "model_id",
]


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_filter_values_never_500(viewer_client, read_client, catalog, value):
    viewer_client.raise_request_exception = read_client.raise_request_exception = False
    failures = []
    for path in PAGE_PATHS:
        for name in PARAMS:
            response = viewer_client.get(path, {name: value})
            if response.status_code >= 500:
                failures.append((path, name))
    for path in API_PATHS:
        for name in PARAMS:
            response = read_client.get(path, {name: value})
            if response.status_code >= 500:
                failures.append((path, name))
    assert failures == []


def test_percent_in_a_natural_key_filter_is_a_400_naming_the_key(read_client, catalog):
    response = read_client.get("/api/v1/compat/entries/", {"model_version": "100%"})

    assert response.status_code == 400
    assert "100%" in str(response.json())


@pytest.mark.parametrize(
    "params",
    [{"device_model": "google-pixel-8"}, {"model_version": "mobilenet-v3-large@1.0-int8"}],
)
def test_matrix_filtered_by_a_slug_or_natural_key_renders(viewer_client, catalog, params):
    response = viewer_client.get("/compat/", params)

    assert response.status_code == 200


def admin_api(user):
    client = APIClient()
    client.force_authenticate(user)
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/compat/device-models/google-pixel-8/",
        "/api/v1/compat/runtimes/tflite/",
        "/api/v1/compat/models/mobilenet-v3-large/",
    ],
)
def test_deleting_a_referenced_catalog_row_is_a_409_and_keeps_it(catalog, admin_user_role, push, path):
    push(
        model_version=catalog.mnv3_int8,
        runtime_version=catalog.tflite_216,
        delegate=catalog.gpu,
        device_model=catalog.pixel,
        p95_latency_ms=30.0,
    )

    response = admin_api(admin_user_role).delete(path)

    assert response.status_code == 409
    assert response.json()["error"] == "protected"
    assert admin_api(admin_user_role).get(path).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "Pixel\x008"},
        {"accelerators": ["gpu\x00"]},
        {"soc": "\x00"},
    ],
)
def test_nul_in_catalog_text_is_a_400(catalog, admin_user_role, payload):
    response = admin_api(admin_user_role).patch("/api/v1/compat/device-models/google-pixel-8/", payload, format="json")

    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/compat/cell/99999999999999999999/",
        "/api/v1/compat/entries/99999999999999999999/",
        "/api/v1/compat/runtime-versions/99999999999999999999/",
        "/api/v1/compat/device-models/a%00b/",
        "/api/v1/compat/entries/1%00/",
    ],
)
def test_huge_or_nul_ids_in_urls_are_404(viewer_client, catalog, path):
    viewer_client.raise_request_exception = False

    assert viewer_client.get(path).status_code == 404
