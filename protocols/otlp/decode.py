"""OTLP/HTTP request bodies: ExportMetricsServiceRequest as protobuf or as OTLP JSON; answers in the same encoding."""

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpError(Exception):
    """A refused request: 400 (not retryable), 413, 415; the body is a google.rpc.Status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def request_decode(body: bytes, media_type: str) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    try:
        if media_type == PROTOBUF:
            request.ParseFromString(body)
        elif media_type == JSON:
            json_format.Parse(body.decode("utf-8"), request, ignore_unknown_fields=True)
        else:
            raise OtlpError(415, f"Content-Type must be {PROTOBUF} or {JSON}, got {media_type or 'none'!r}")
    except (DecodeError, json_format.ParseError, UnicodeDecodeError, RecursionError) as error:
        raise OtlpError(400, f"body is not an ExportMetricsServiceRequest: {error}"[:500]) from None
    return request


def response_encode(*, media_type: str, rejected: int, message: str) -> bytes:
    response = ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    return _encode(response, media_type)


def status_encode(*, media_type: str, code: int, message: str) -> bytes:
    return _encode(status_pb2.Status(code=code, message=message), media_type)


def _encode(message, media_type: str) -> bytes:
    if media_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()
