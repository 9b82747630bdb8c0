"""POST /api/v1/ingest/: DRF for auth, throttling and the schema; the body goes straight to the msgspec service."""

import logging

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.authentication import ApiKeyAuthentication
from core.models import ApiKeyScope
from core.permissions import scope_required

from ..ingest.service import IngestError, session_batch_ingest
from ..tasks import rollup_hours_queue
from .ingest_serializers import IngestAcceptedSerializer, IngestBatchSerializer, IngestErrorSerializer
from .throttling import DATABASE_RETRY_AFTER_S, IngestRateThrottle

logger = logging.getLogger(__name__)

JSON_MEDIA_TYPES = ("application/json",)
# gzip of incompressible data is a little larger than the data: allow that much over the decompressed cap.
GZIP_OVERHEAD_BYTES = 64 * 1024


def _error(status: int, error: str, detail: dict | None = None, headers: dict | None = None) -> Response:
    return Response({"error": error, "detail": detail or {}}, status=status, headers=headers)


INGEST_DESCRIPTION = """\
A batch of `session` and `crash` events from one device (API.md). Body: JSON, optionally
`Content-Encoding: gzip`; at most 5 MiB and 1,000 events, measured after decompression.

Every event is idempotent on `event_id`: a resend is counted in `duplicates`, never stored twice.
Invalid events (or unknown catalog slugs) are listed in `rejected` with their index while the valid
ones are stored; a 202 means every accepted event is durably stored. Unknown versions of known
models/runtimes are registered on first sight. When `sent_at` differs from the receive time by more
than 55 minutes, device times are shifted by the difference; times more than 60 s in the future or
older than the retention window are clamped to the receive time and flagged. Secrets in crash
messages and frames are scrubbed before storage.

429 and 503 carry `Retry-After` (seconds). Clients retry only 429, 502, 503, 504 and network errors,
with exponential backoff and jitter; never a 400 or a rejected item."""


class IngestView(APIView):
    """Device telemetry ingest (scope `ingest`); a device-bound key posts only for its own device."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [scope_required(ApiKeyScope.INGEST)]
    throttle_classes = [IngestRateThrottle]
    parser_classes = []  # the service decodes the raw body with msgspec; no per-event DRF validation

    @extend_schema(
        operation_id="ingest_batch",
        summary="Post a batch of session and crash events",
        description=INGEST_DESCRIPTION,
        request={"application/json": IngestBatchSerializer},
        parameters=[
            OpenApiParameter(
                "Content-Encoding", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, enum=["gzip"]
            )
        ],
        responses={
            202: OpenApiResponse(IngestAcceptedSerializer, "Batch taken (maybe partly)"),
            400: OpenApiResponse(IngestErrorSerializer, "Envelope unreadable (not JSON, no device, no events list)"),
            401: OpenApiResponse(description="Missing, wrong or revoked API key"),
            403: OpenApiResponse(description="Key without the ingest scope, or bound to another device"),
            413: OpenApiResponse(IngestErrorSerializer, "Over 5 MiB or 1,000 events after decompression"),
            415: OpenApiResponse(IngestErrorSerializer, "Not JSON (or an unsupported Content-Encoding)"),
            429: OpenApiResponse(description="Key over its rate; Retry-After header (seconds)"),
            503: OpenApiResponse(IngestErrorSerializer, "Database unavailable; Retry-After; nothing stored"),
        },
        tags=["ingest"],
    )
    def post(self, request):
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            return _error(415, f"Content-Type must be application/json, got {media_type or 'none'!r}")
        max_bytes = settings.INGEST_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > max_bytes + GZIP_OVERHEAD_BYTES:  # refuse before reading a byte of it
            return _error(413, f"body is over {max_bytes} bytes")
        try:
            result = session_batch_ingest(
                api_key=request.auth,
                body=request.body,
                content_encoding=request.headers.get("Content-Encoding"),
                received_at=timezone.now(),
            )
        except IngestError as error:
            return _error(error.status, error.error, error.detail)
        rollup_hours_queue(hours=result.hours_to_roll_up, on_commit=True)
        return Response(result.as_dict(), status=202)

    def handle_exception(self, exc):
        # The database is down or the connection died mid-batch: the transaction rolled back, so nothing
        # is stored and the client's retry lands everything exactly once.
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("ingest: database unavailable, answering 503: %s", exc)
            return _error(
                503, "database unavailable, retry later", headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)}
            )
        return super().handle_exception(exc)
