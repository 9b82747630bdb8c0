"""POST /api/v1/ingest/: DRF for auth, throttling and the schema; the body goes straight to the msgspec service."""

import logging
import threading
from collections import Counter

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from redis.exceptions import RedisError
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from core.authentication import ApiKeyAuthentication
from core.models import ApiKey, ApiKeyScope
from core.permissions import scope_required

from ..ingest.service import IngestError, session_batch_ingest
from ..tasks import rollup_hours_queue
from .ingest_serializers import IngestAcceptedSerializer, IngestBatchSerializer, IngestErrorSerializer

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5
JSON_MEDIA_TYPES = ("application/json",)
# gzip of incompressible data is a little larger than the data: allow that much over the decompressed cap.
GZIP_OVERHEAD_BYTES = 64 * 1024


class IngestRateThrottle(SimpleRateThrottle):
    """Per API key (by its clear prefix), rate from DEFAULT_THROTTLE_RATES["ingest"], in fixed windows.

    A counter per key and window, not DRF's list of every request's time: that list went to the cache and back
    whole, pickled, on every batch (~1 ms a request at the bench's rate, growing with the rate). A fixed window
    lets a burst reach twice the rate across a window's edge; Retry-After is the time left in the window.
    """

    scope = "ingest"
    # Redis unreachable: each process counts on its own (a key gets up to its rate per process), never a 500.
    _local_counts: Counter = Counter()
    _local_lock = threading.Lock()

    def get_cache_key(self, request, view) -> str:
        ident = request.auth.prefix if isinstance(request.auth, ApiKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None or (key := self.get_cache_key(request, view)) is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        counter = f"{key}:{window}"
        try:
            # Kept for two windows: it cannot expire between the existence check of incr() and the increment.
            if self.cache.add(counter, 1, timeout=2 * self.duration):
                return True
            return self.cache.incr(counter) <= self.num_requests
        except (RedisError, OSError) as error:
            logger.warning("ingest throttle: cache unavailable, counting in this process: %s", error)
            return self._local_allow(counter, window)

    def _local_allow(self, counter: str, window: int) -> bool:
        with self._local_lock:
            counts = IngestRateThrottle._local_counts
            for stale in [key for key in counts if not key.endswith(f":{window}")]:
                del counts[stale]
            counts[counter] += 1
            return counts[counter] <= self.num_requests

    def wait(self) -> float:
        return max(self.window_end - self.now, 1.0)


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
