"""Retention of what the protocol adapters keep: the same RAW_RETENTION_DAYS as the raw sessions and crashes.

Release-health sessions and aggregates go by their start (as raw sessions do), Sentry events, attachments and client
reports by receipt, and OTLP stream points by their last update: a stream silent for longer than retention starts
afresh (its next cumulative point is the stream's first; an interval reaching past retention is refused as too old).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from telemetry.rollups.retention import rows_older_delete

from .models import (
    OtlpStreamPoint,
    ReleaseHealthAggregate,
    ReleaseHealthSession,
    SentryAttachment,
    SentryClientReport,
    SentryEvent,
)

logger = logging.getLogger(__name__)

RETAINED = (
    ("release_health_sessions", ReleaseHealthSession, "started"),
    ("release_health_aggregates", ReleaseHealthAggregate, "started"),
    ("sentry_events", SentryEvent, "received_at"),
    ("sentry_attachments", SentryAttachment, "received_at"),
    ("sentry_client_reports", SentryClientReport, "received_at"),
    ("otlp_stream_points", OtlpStreamPoint, "updated_at"),
)


def protocol_retention_enforce(*, now: datetime | None = None, chunk_size: int = 5000) -> dict[str, int]:
    cutoff = (now or timezone.now()) - timedelta(days=settings.RAW_RETENTION_DAYS)
    deleted = {
        key: rows_older_delete(model=model, column=column, cutoff=cutoff, chunk_size=chunk_size)
        for key, model, column in RETAINED
    }
    logger.info("protocol retention: deleted %s older than %s", deleted, cutoff.isoformat())
    return deleted
