"""POST /api/<project_id>/envelope/ and /store/: Sentry's answers (200 {"id"}, 400/401/403/413/429/503 {"detail"})."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from django.utils.decorators import method_decorator
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from ..encoding import BodyError, body_inflate
from ..ingest_bridge import DATABASE_RETRY_AFTER_S, ApiKeyScope, IngestRateThrottle
from ..metrics_counters import ingest_count
from .auth import SentryKeyAuthentication
from .services import MAX_ENVELOPE_BYTES, SentryRejected, sentry_envelope_ingest, sentry_store_ingest

logger = logging.getLogger(__name__)


def _detail(status: int, detail: str, causes=None, headers=None) -> Response:
    body = {"detail": detail}
    if causes:
        body["causes"] = [f"{name}: {'; '.join(map(str, reasons))}" for name, reasons in dict(causes).items()]
    return Response(body, status=status, headers=headers)


class _SentryView(APIView):
    schema = None  # Sentry's wire format (docs/protocols/sentry.md), not part of the OpenAPI contract
    authentication_classes = [SentryKeyAuthentication]
    permission_classes = []
    throttle_classes = [IngestRateThrottle]
    parser_classes = []  # the raw body is read: envelopes are not JSON documents
    ingest = staticmethod(sentry_envelope_ingest)

    def post(self, request, project_id: int):
        if request.auth is None:
            return _detail(401, "missing authentication: X-Sentry-Auth header or sentry_key parameter")
        if not request.auth.has_scope(ApiKeyScope.INGEST):
            return _detail(403, "this key has no ingest scope")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_ENVELOPE_BYTES:  # refused before reading a byte of it
            return _detail(413, f"body is over {MAX_ENVELOPE_BYTES} bytes")
        try:
            body = body_inflate(
                body=request.body, content_encoding=request.headers.get("Content-Encoding"),
                max_bytes=MAX_ENVELOPE_BYTES,
            )  # fmt: skip
            outcome = self.ingest(api_key=request.auth, body=body, received_at=timezone.now())
        except BodyError as error:
            ingest_count(transport="sentry", rejected={f"http_{error.status}": 1})
            return _detail(error.status, str(error))
        except SentryRejected as error:
            ingest_count(transport="sentry", rejected={f"http_{error.status}": 1})
            return _detail(error.status, error.detail, error.causes)
        ingest_count(transport="sentry", accepted=outcome.accepted, duplicates=outcome.duplicates)
        return Response({"id": outcome.event_id.hex if outcome.event_id else None}, status=200)

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.Throttled):
            wait = str(int(exc.wait or 1))
            # Empty categories: every category is limited; the SDK stops sending until then.
            headers = {"Retry-After": wait, "X-Sentry-Rate-Limits": f"{wait}::key"}
            return _detail(429, "rate limit exceeded for this key", headers=headers)
        if isinstance(exc, exceptions.AuthenticationFailed | exceptions.NotAuthenticated):
            return _detail(401, str(exc.detail))
        if isinstance(exc, exceptions.PermissionDenied):
            return _detail(403, str(exc.detail))
        if isinstance(exc, OperationalError | InterfaceError):
            logger.warning("sentry ingest: database unavailable, answering 503: %s", exc)
            return _detail(
                503, "database unavailable, retry later", headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)}
            )
        return super().handle_exception(exc)


@method_decorator(login_not_required, name="dispatch")
class SentryEnvelopeView(_SentryView):
    """Sentry SDKs' envelope endpoint (events, sessions, attachments, client reports; other items skipped)."""


@method_decorator(login_not_required, name="dispatch")
class SentryStoreView(_SentryView):
    """The legacy store endpoint: the body is one event JSON."""

    ingest = staticmethod(sentry_store_ingest)
