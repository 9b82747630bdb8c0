"""Sentry envelopes and store bodies into the ingest service: every item validated first, then one transaction.

Crash events go through `session_batch_ingest` exactly as an HTTP batch would (validation, scrubbing, clock
rules, idempotency on event_id); a rejected event aborts the whole envelope, so nothing is half-stored.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction

from ..ingest_bridge import ApiKey, IngestError, secrets_scrub, session_batch_ingest
from ..models import ReleaseHealthAggregate, ReleaseHealthSession, SentryAttachment, SentryClientReport, SentryEvent
from . import events as sentry_events
from .envelope import EnvelopeError, Item, envelope_parse
from .release_health import aggregates_of, aggregates_store, session_update_of, session_updates_store

MAX_EVENT_BYTES = 1024 * 1024  # Relay's max_event_size
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # below Relay's 100 MiB: attachments are kept in the database
MAX_ENVELOPE_BYTES = 40 * 1024 * 1024  # decompressed; Relay allows 100 MiB
MAX_SESSION_ITEMS = 100


class SentryRejected(Exception):
    """The envelope or event is refused as a whole (Sentry's 400/403/413), nothing stored."""

    def __init__(self, status: int, detail: str, causes: dict | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.causes = causes or {}


@dataclass
class _Plan:
    event_id: uuid.UUID | None = None
    event: dict | None = None
    sessions: list[ReleaseHealthSession] = field(default_factory=list)
    aggregates: list[ReleaseHealthAggregate] = field(default_factory=list)
    attachments: list[SentryAttachment] = field(default_factory=list)
    client_reports: list[SentryClientReport] = field(default_factory=list)
    skipped: int = 0


def _client_reports_of(item: Item, *, key_id: int, received_at: datetime) -> list[SentryClientReport]:
    payload = item.json()
    discarded = payload.get("discarded_events") if isinstance(payload, dict) else None
    if not isinstance(discarded, list):
        raise EnvelopeError("client_report item has no discarded_events list")
    reported_at = sentry_events.sentry_time(payload.get("timestamp"), "timestamp") if payload.get("timestamp") \
        else received_at  # fmt: skip
    digest_base = hashlib.sha256(str(key_id).encode() + b"|" + item.payload).hexdigest()
    rows = []
    for index, entry in enumerate(discarded):
        quantity = entry.get("quantity") if isinstance(entry, dict) else None
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= 2_147_483_647:
            raise EnvelopeError(f"client_report entry {index} has no valid quantity")
        rows.append(SentryClientReport(
            digest=hashlib.sha256(f"{digest_base}|{index}".encode()).hexdigest(),
            reason=str(entry.get("reason") or "")[:64], category=str(entry.get("category") or "")[:32],
            quantity=quantity, reported_at=reported_at, received_at=received_at,
        ))  # fmt: skip
    return rows


def _plan(header: dict, items: list[Item], *, api_key: ApiKey, received_at: datetime) -> _Plan:
    plan = _Plan()
    if header.get("event_id"):
        plan.event_id = sentry_events.event_uuid(header["event_id"])
    for item in items:
        kind = item.type
        if kind == "event":
            if len(item.payload) > MAX_EVENT_BYTES:
                raise SentryRejected(413, f"event is over {MAX_EVENT_BYTES} bytes")
            event = item.json()
            if not isinstance(event, dict):
                raise EnvelopeError("event item is not a JSON object")
            plan.event = event
            plan.event_id = sentry_events.event_uuid(event.get("event_id") or plan.event_id or uuid.uuid4())
        elif kind in ("session", "sessions"):
            if len(plan.sessions) + len(plan.aggregates) >= MAX_SESSION_ITEMS:
                raise SentryRejected(413, f"envelope has over {MAX_SESSION_ITEMS} session items")
            if kind == "session":
                plan.sessions.append(session_update_of(item.json(), received_at))
            else:
                plan.aggregates += aggregates_of(item.json(), key_id=api_key.pk, received_at=received_at)
        elif kind == "attachment":
            if len(item.payload) > MAX_ATTACHMENT_BYTES:
                raise SentryRejected(413, f"attachment is over {MAX_ATTACHMENT_BYTES} bytes")
            plan.attachments.append(SentryAttachment(
                filename=str(item.headers.get("filename") or "attachment")[:255],
                attachment_type=str(item.headers.get("attachment_type") or "event.attachment")[:40],
                content_type=str(item.headers.get("content_type") or "")[:100],
                size=len(item.payload), data=item.payload, received_at=received_at,
            ))  # fmt: skip
        elif kind == "client_report":
            plan.client_reports += _client_reports_of(item, key_id=api_key.pk, received_at=received_at)
        else:  # transaction, profile, replay, check_in, statsd, an item type of the future: skipped by its length
            plan.skipped += 1
    if plan.attachments and plan.event_id is None:
        raise EnvelopeError("attachments need the envelope header's event_id")
    return plan


@dataclass(frozen=True)
class SentryOutcome:
    """The envelope's event id (None without one) and what its crash did in the ingest service."""

    event_id: uuid.UUID | None
    accepted: int = 0
    duplicates: int = 0


def _crash_store(*, api_key: ApiKey, plan: _Plan, sent_at, received_at: datetime) -> tuple[int, int]:
    event = plan.event
    if not sentry_events.is_crash(event):
        return 0, 0
    crash = sentry_events.crash_of(event, event_id=plan.event_id, received_at=received_at)
    batch = {"device": sentry_events.device_of(event), "events": [crash]}
    if sent_at is not None:
        batch["sent_at"] = sent_at.isoformat()
    try:
        result = session_batch_ingest(
            api_key=api_key, body=json.dumps(batch).encode(), content_encoding=None, received_at=received_at
        )
    except IngestError as error:
        raise SentryRejected(error.status, error.error, error.detail) from None
    if result.rejected:
        raise SentryRejected(400, "event rejected by ingest validation", result.rejected[0]["errors"])
    SentryEvent.objects.get_or_create(
        event_id=plan.event_id,
        defaults={
            "handled": sentry_events.handled_of(event), "level": str(event.get("level") or "error")[:16],
            "platform": str(event.get("platform") or "")[:32],
            "environment": str(event.get("environment") or "")[:64], "release": str(event.get("release") or "")[:200],
            "breadcrumbs": sentry_events.breadcrumbs_of(event, secrets_scrub), "received_at": received_at,
        },
    )  # fmt: skip
    return result.accepted, result.duplicates


def sentry_envelope_ingest(*, api_key: ApiKey, body: bytes, received_at: datetime) -> SentryOutcome:
    """Stores one decompressed envelope, all of it or (raising SentryRejected) none of it."""
    try:
        header, items = envelope_parse(body)
        plan = _plan(header, items, api_key=api_key, received_at=received_at)
        sent_at = sentry_events.sentry_time(header["sent_at"], "sent_at") if header.get("sent_at") else None
    except (EnvelopeError, sentry_events.EventError) as error:
        raise SentryRejected(400, str(error), getattr(error, "detail", None)) from None
    counts = (0, 0)
    with transaction.atomic():
        if plan.event is not None:
            try:
                counts = _crash_store(api_key=api_key, plan=plan, sent_at=sent_at, received_at=received_at)
            except sentry_events.EventError as error:
                raise SentryRejected(400, str(error), error.detail) from None
        session_updates_store(plan.sessions)
        aggregates_store(plan.aggregates)
        for attachment in plan.attachments:
            attachment.event_id = plan.event_id
        SentryAttachment.objects.bulk_create(plan.attachments, ignore_conflicts=True)
        SentryClientReport.objects.bulk_create(plan.client_reports, ignore_conflicts=True)
    return SentryOutcome(plan.event_id, *counts)


def sentry_store_ingest(*, api_key: ApiKey, body: bytes, received_at: datetime) -> SentryOutcome:
    """The legacy /store/ endpoint: the body is one event; stored as a one-item envelope."""
    if len(body) > MAX_EVENT_BYTES:
        raise SentryRejected(413, f"event is over {MAX_EVENT_BYTES} bytes")
    return sentry_envelope_ingest(api_key=api_key, body=b"{}\n" + _item_line(body), received_at=received_at)


def _item_line(payload: bytes) -> bytes:
    return json.dumps({"type": "event", "length": len(payload)}).encode() + b"\n" + payload + b"\n"
