import pytest
from rest_framework.test import APIClient

from compat.models import CompatEntry, CompatStatusChange, DeviceModel, EvidenceSource

pytestmark = pytest.mark.django_db

HEALTHY = dict(p95_latency_ms=30.0, accelerated_fraction=0.99, crash_free_sessions=0.999, errors_per_1k=0.1)


@pytest.fixture
def cells(catalog, push):
    c = catalog
    return [
        push(model_version=c.mnv3_int8, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel, **HEALTHY),
        push(
            model_version=c.mnv3_fp32,
            runtime_version=c.tflite_217,
            delegate=c.xnnpack,
            device_model=c.galaxy,
            **{**HEALTHY, "p95_latency_ms": 500.0},
        ),
        push(
            model_version=c.yolo_fp16,
            runtime_version=c.ort_118,
            delegate=c.cuda,
            device_model=c.jetson,
            source=EvidenceSource.LAB,
            source_ref="lab:run:3",
            sample_size=2,
            load_failed=True,
        ),
    ]


def user_client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_entries_read_and_write_foreign_keys_as_natural_keys(read_client, cells):
    body = read_client.get("/api/v1/compat/entries/").json()
    first = body["results"][0]
    assert body["count"] == 3
    assert (first["model_version"], first["runtime_version"], first["delegate"], first["device_model"]) == (
        "mobilenet-v3-large@1.0-int8",
        "tflite@2.16.1",
        "tflite/gpu",
        "google-pixel-8",
    )
    assert first["status"] == "supported" and first["evidence"][0]["source_ref"] == "field:30d"


@pytest.mark.parametrize(
    "params, expected",
    [
        ("", 3),
        ("runtime=tflite", 2),
        ("runtime_version=tflite@2.17.0", 1),
        ("delegate=onnxruntime/cuda", 1),
        ("delegate_kind=cpu", 1),
        ("device_model=google-pixel-8", 1),
        ("vendor=NVIDIA", 1),
        ("tier=2", 1),
        ("os=linux", 1),
        ("model=mobilenet-v3-large", 2),
        ("model_version=yolov8n@8.1-fp16", 1),
        ("task=detection", 1),
        ("precision=fp32", 1),
        ("status=degraded", 1),
        ("status=supported&status=unsupported", 2),
        ("q=galaxy", 1),
        ("runtime=tflite&tier=1", 1),
    ],
)
def test_entry_filters(read_client, cells, params, expected):
    assert read_client.get(f"/api/v1/compat/entries/?{params}").json()["count"] == expected


def test_id_filters_match_slug_filters(read_client, cells, catalog):
    by_id = read_client.get(f"/api/v1/compat/entries/?device_model_id={catalog.pixel.id}").json()["count"]
    by_slug = read_client.get("/api/v1/compat/entries/?device_model=google-pixel-8").json()["count"]
    assert by_id == by_slug == 1


@pytest.mark.parametrize(
    "params",
    [
        "runtime=nosuch",
        "device_model=ghost",
        "model_version=yolov8n@9.9",
        "delegate=gpu",
        "tier=7",
        "device_model_id=abc",
        "status=great",
    ],
)
def test_unknown_or_malformed_filter_values_are_400(read_client, cells, params):
    response = read_client.get(f"/api/v1/compat/entries/?{params}")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    ["device-models", "runtimes", "runtime-versions", "delegates", "models", "model-versions", "entries"],
)
def test_list_endpoints_use_a_fixed_number_of_queries(read_client, cells, path, django_assert_num_queries):
    read_client.get(f"/api/v1/compat/{path}/")  # warm the key lookup path
    # key lookup + count + page (+ the evidence prefetch for entries); never one per row.
    expected = 4 if path == "entries" else 3
    with django_assert_num_queries(expected):
        assert read_client.get(f"/api/v1/compat/{path}/").status_code == 200


def test_catalog_writes_need_admin_and_take_slugs(cells, viewer_user, admin_user_role, read_client):
    payload = {"slug": "npu-x", "runtime": "tflite", "name": "NPU X", "kind": "npu"}
    assert user_client(viewer_user).post("/api/v1/compat/delegates/", payload, format="json").status_code == 403
    assert read_client.post("/api/v1/compat/delegates/", payload, format="json").status_code == 403
    response = user_client(admin_user_role).post("/api/v1/compat/delegates/", payload, format="json")
    assert response.status_code == 201 and response.json()["key"] == "tflite/npu-x"


def test_device_models_are_addressed_by_slug(read_client, cells):
    body = read_client.get("/api/v1/compat/device-models/google-pixel-8/").json()
    assert body["tier"] == 1 and body["soc"] == "Tensor G3"
    assert DeviceModel.objects.count() == read_client.get("/api/v1/compat/device-models/").json()["count"]


def test_admin_creates_an_untested_entry_but_delegate_must_match_the_runtime(cells, admin_user_role):
    client = user_client(admin_user_role)
    payload = {
        "model_version": "yolov8n@8.1-fp16",
        "runtime_version": "tflite@2.16.1",
        "delegate": "onnxruntime/cuda",
        "device_model": "google-pixel-8",
    }
    assert client.post("/api/v1/compat/entries/", payload, format="json").status_code == 400
    payload["delegate"] = "tflite/gpu"
    response = client.post("/api/v1/compat/entries/", payload, format="json")
    assert response.status_code == 201 and response.json()["status"] == "untested"


def test_support_overrides_and_clears_through_the_api(cells, support_user):
    client, entry = user_client(support_user), cells[1]
    url = f"/api/v1/compat/entries/{entry.id}/override/"
    response = client.post(url, {"status": "supported", "reason": "OK for kiosk mode"}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["derived_status"]) == ("supported", "degraded")
    assert client.delete(url).status_code == 200
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()  # the schema says what it answers
    operation = schema["paths"]["/api/v1/compat/entries/{id}/override/"]
    assert "200" in operation["post"]["responses"] and "200" in operation["delete"]["responses"]
    assert CompatEntry.objects.get(pk=entry.id).override_status == ""
    assert list(CompatStatusChange.objects.exclude(kind="derived").values_list("kind", flat=True).order_by("id")) == [
        "override",
        "override_cleared",
    ]


@pytest.mark.parametrize(
    "payload", [{"status": "supported"}, {"status": "supported", "reason": "  "}, {"status": "meh", "reason": "x"}]
)
def test_override_bad_input_is_400_and_nothing_changes(cells, support_user, payload):
    entry = cells[1]
    response = user_client(support_user).post(f"/api/v1/compat/entries/{entry.id}/override/", payload, format="json")
    assert response.status_code == 400
    assert CompatEntry.objects.get(pk=entry.id).override_status == ""


def test_viewer_and_api_keys_cannot_override(cells, viewer_user, read_client):
    url = f"/api/v1/compat/entries/{cells[1].id}/override/"
    payload = {"status": "supported", "reason": "x"}
    assert user_client(viewer_user).post(url, payload, format="json").status_code == 403
    assert read_client.post(url, payload, format="json").status_code == 403
    assert not CompatStatusChange.objects.filter(kind="override").exists()


def test_anonymous_cannot_read(cells):
    assert APIClient().get("/api/v1/compat/entries/").status_code in (401, 403)
