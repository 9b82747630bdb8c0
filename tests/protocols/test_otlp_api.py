"""POST /v1/metrics answers as OTLP/HTTP says: partial_success, 400 not retryable, 401/403/415/429, resends."""

import gzip

import pytest
from django.core.cache import cache
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from protocols.ingest_bridge import IngestRateThrottle
from protocols.models import OtlpStreamPoint
from telemetry.models import InferenceSession
from tests.protocols.otel_factories import RESOURCE, STACK, DeviceApp, latencies

pytestmark = pytest.mark.django_db
URL = "/v1/metrics"


@pytest.fixture
def raw_key(ingest_key, catalog):
    return ingest_key[1]


def post(client, raw_key, body: bytes, *, content_type="application/x-protobuf", encoding=None):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    if encoding:
        extra["HTTP_CONTENT_ENCODING"] = encoding
    return client.generic("POST", URL, body, content_type=content_type, **extra)


def export_body(*, delta=True, stack=None, resource=None, samples=None) -> bytes:
    app = DeviceApp(delta=delta, resource=resource)
    app.run(samples or latencies(200), errors=1, stack=stack)
    return app.request_body()


def partial(response) -> tuple[int, str]:
    message = ExportMetricsServiceResponse.FromString(response.content)
    return message.partial_success.rejected_data_points, message.partial_success.error_message


def test_protobuf_export_is_stored_and_answers_an_empty_partial_success(client, raw_key):
    response = post(client, raw_key, gzip.compress(export_body()), encoding="gzip")

    assert response.status_code == 200 and response["Content-Type"] == "application/x-protobuf"
    assert partial(response) == (0, "")
    assert InferenceSession.objects.get().inferences == 200


def test_otlp_json_is_read_and_answered_in_json(client, raw_key):
    body = json_format.MessageToJson(ExportMetricsServiceRequest.FromString(export_body())).encode()

    response = post(client, raw_key, body, content_type="application/json")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert InferenceSession.objects.get().errors == 1


@pytest.mark.parametrize("delta", [True, False], ids=["delta", "cumulative"])
def test_a_retried_export_is_not_a_second_session(client, raw_key, delta):
    body = export_body(delta=delta)

    post(client, raw_key, body)
    response = post(client, raw_key, body)

    assert response.status_code == 200 and partial(response) == (0, "")
    assert InferenceSession.objects.count() == 1


def test_points_without_the_stack_attributes_are_rejected_in_partial_success(client, raw_key):
    response = post(client, raw_key, export_body(stack={"edge.model": "yolov8n"}))

    rejected, message = partial(response)
    assert response.status_code == 200 and rejected == 5 and "lacks edge." in message
    assert InferenceSession.objects.count() == 0


def test_an_unknown_catalog_slug_rejects_that_sessions_points(client, raw_key):
    response = post(client, raw_key, export_body(stack={**STACK, "edge.runtime": "no-such-runtime"}))

    rejected, message = partial(response)
    assert rejected == 5 and "unknown runtime 'no-such-runtime'" in message


def test_a_resource_without_a_device_rejects_its_points(client, raw_key):
    resource = {k: v for k, v in RESOURCE.items() if k != "device.id"}

    rejected, message = partial(post(client, raw_key, export_body(resource=resource)))

    assert rejected == 5 and "device.id" in message


@pytest.mark.parametrize(
    "body, content_type, encoding, status",
    [(b"\x0a\xff\xff\xff garbage", "application/x-protobuf", None, 400), (b"{not json", "application/json", None, 400),
     (b"\x1f\x8bnot gzip", "application/x-protobuf", "gzip", 400), (b"", "text/plain", None, 415),
     (gzip.compress(b"\x00" * (6 * 1024 * 1024)), "application/x-protobuf", "gzip", 413)],
    ids=["protobuf-garbage", "json-garbage", "bad-gzip", "wrong-type", "gzip-bomb"],
)  # fmt: skip
def test_unreadable_bodies_get_a_status_message_and_store_nothing(client, raw_key, body, content_type, encoding,
                                                                  status):  # fmt: skip
    response = post(client, raw_key, body, content_type=content_type, encoding=encoding)

    assert response.status_code == status
    if content_type == "application/x-protobuf":
        assert status_pb2.Status.FromString(response.content).message
    assert InferenceSession.objects.count() == 0


@pytest.mark.parametrize("scopes, status", [(None, 401), (["read"], 403)])
def test_keys_are_checked(client, make_api_key, catalog, scopes, status):
    raw_key = make_api_key(scopes=scopes)[1] if scopes else None

    assert post(client, raw_key, export_body()).status_code == status


def test_a_device_key_for_another_device_is_403_and_nothing_is_half_stored(client, make_api_key, catalog):
    raw_key = make_api_key(scopes=["ingest"], device_uid="pixel8-000099")[1]

    response = post(client, raw_key, export_body(delta=False))

    assert response.status_code == 403
    assert InferenceSession.objects.count() == 0 and OtlpStreamPoint.objects.count() == 0


def test_over_the_rate_is_429_with_retry_after(client, raw_key, monkeypatch):
    cache.clear()
    monkeypatch.setattr(IngestRateThrottle, "THROTTLE_RATES", {"ingest": "1/min"})
    body = export_body()

    post(client, raw_key, body)
    response = post(client, raw_key, body)

    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
