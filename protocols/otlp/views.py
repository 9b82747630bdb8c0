"""POST /v1/metrics, OTLP/HTTP: 200 with partial_success, 400 (not retryable), 429/503 with Retry-After.

Error bodies are google.rpc.Status in the request's encoding, as the OTLP specification asks.
"""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from rest_framework import exceptions
from rest_framework.views import APIView

from ..encoding import BodyError, body_inflate
from ..ingest_bridge import DATABASE_RETRY_AFTER_S, ApiKeyAuthentication, ApiKeyScope, IngestError, IngestRateThrottle
from ..metrics_counters import ingest_count
from .decode import JSON, PROTOBUF, OtlpError, request_decode, response_encode, status_encode
from .services import otlp_metrics_ingest

logger = logging.getLogger(__name__)
GRPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 503: 14}  # google.rpc.Code of each status


def _media_type(request) -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


def _status(request, status: int, message: str, headers: dict | None = None) -> HttpResponse:
    media_type = JSON if _media_type(request) == JSON else PROTOBUF
    body = status_encode(media_type=media_type, code=GRPC_CODES.get(status, 2), message=message)
    response = HttpResponse(body, status=status, content_type=media_type)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


@method_decorator(login_not_required, name="dispatch")
class OtlpMetricsView(APIView):
    """OTLP/HTTP metrics export (scope `ingest`, `Authorization: Bearer <key>` in the exporter's headers)."""

    schema = None  # another protocol's wire format (docs/protocols/), not part of the OpenAPI contract

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []
    throttle_classes = [IngestRateThrottle]
    parser_classes = []

    def post(self, request):
        if request.auth is None:
            return _status(request, 401, "missing Authorization: Bearer <api key>")
        if not request.auth.has_scope(ApiKeyScope.INGEST):
            return _status(request, 403, "this key has no ingest scope")
        media_type = _media_type(request)
        try:
            body = body_inflate(body=request.body, content_encoding=request.headers.get("Content-Encoding"),
                                max_bytes=settings.INGEST_MAX_BODY_BYTES)  # fmt: skip
            export = request_decode(body, media_type)
            result = otlp_metrics_ingest(api_key=request.auth, request=export, received_at=timezone.now())
        except (BodyError, OtlpError) as error:
            ingest_count(transport="otlp", rejected={f"http_{error.status}": 1})
            return _status(request, error.status, str(error))
        except IngestError as error:
            ingest_count(transport="otlp", rejected={f"http_{error.status}": 1})
            return _status(request, error.status, error.error)
        ingest_count(transport="otlp", accepted=result.accepted, duplicates=result.duplicates,
                     rejected={"points": result.rejected} if result.rejected else None)  # fmt: skip
        body = response_encode(media_type=JSON if media_type == JSON else PROTOBUF, rejected=result.rejected,
                               message="; ".join(result.reasons))  # fmt: skip
        return HttpResponse(body, status=200, content_type=JSON if media_type == JSON else PROTOBUF)

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.Throttled):
            wait = str(int(exc.wait or 1))
            return _status(self.request, 429, "rate limit exceeded for this key", {"Retry-After": wait})
        if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
            return _status(self.request, 401, str(exc.detail))
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("otlp ingest: database unavailable, answering 503: %s", exc)
            return _status(self.request, 503, "database unavailable, retry later",
                           {"Retry-After": str(DATABASE_RETRY_AFTER_S)})  # fmt: skip
        return super().handle_exception(exc)
