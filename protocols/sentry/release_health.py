"""`session` and `sessions` items as release-health rows (protocols.models): validated first, stored by the caller."""

import hashlib
import uuid
from datetime import datetime
from typing import Any

from ..models import TERMINAL_STATUSES, ReleaseHealthAggregate, ReleaseHealthSession, SentrySessionStatus
from .envelope import EnvelopeError
from .events import sentry_time

COUNT_FIELDS = ("exited", "errored", "abnormal", "crashed")
MAX_SESSION_UPDATES = 100  # Relay's max_session_count per envelope
MAX_COUNT = 2_147_483_647


def _count(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise EnvelopeError(f"session field {field} is not a count: {value!r}"[:200])
    return value


def _attrs(payload: dict) -> tuple[str, str]:
    attrs = payload.get("attrs") if isinstance(payload.get("attrs"), dict) else {}
    release = str(attrs.get("release") or "")
    if not release:  # Sentry drops sessions without a release: there is nothing to count them against
        raise EnvelopeError("session item has no attrs.release")
    return release[:200], str(attrs.get("environment") or "")[:64]


def session_update_of(payload: Any, received_at: datetime) -> ReleaseHealthSession:
    """An unsaved ReleaseHealthSession for one `session` item payload."""
    if not isinstance(payload, dict):
        raise EnvelopeError("session item is not a JSON object")
    try:
        sid = uuid.UUID(str(payload.get("sid")))
    except ValueError:
        raise EnvelopeError("session item has no valid sid") from None
    status = str(payload.get("status") or SentrySessionStatus.OK)
    if status not in SentrySessionStatus.values:
        raise EnvelopeError(f"session status {status!r} is unknown"[:200])
    release, environment = _attrs(payload)
    started = sentry_time(payload.get("started"), "started")
    updated = sentry_time(payload.get("timestamp"), "timestamp") if payload.get("timestamp") else received_at
    duration = payload.get("duration")
    return ReleaseHealthSession(
        sid=sid, device_uid=str(payload.get("did") or "")[:128], release=release, environment=environment,
        started=started, updated=updated, status=status, errors=_count(payload.get("errors"), "errors"),
        duration_s=float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else None,
        received_at=received_at,
    )  # fmt: skip


def aggregates_of(payload: Any, *, key_id: int, received_at: datetime) -> list[ReleaseHealthAggregate]:
    """Unsaved ReleaseHealthAggregate rows for one `sessions` item payload; each bucket's digest dedupes resends."""
    if not isinstance(payload, dict) or not isinstance(payload.get("aggregates"), list):
        raise EnvelopeError("sessions item has no aggregates list")
    release, environment = _attrs(payload)
    rows = []
    for index, bucket in enumerate(payload["aggregates"]):
        if not isinstance(bucket, dict):
            raise EnvelopeError(f"sessions aggregate {index} is not a JSON object")
        counts = {field: _count(bucket.get(field), field) for field in COUNT_FIELDS}
        started = sentry_time(bucket.get("started"), "started")
        did = str(bucket.get("did") or "")[:128]
        identity = f"{key_id}|{release}|{environment}|{did}|{started.isoformat()}|{sorted(counts.items())}|{index}"
        rows.append(ReleaseHealthAggregate(
            digest=hashlib.sha256(identity.encode()).hexdigest(), device_uid=did, release=release,
            environment=environment, started=started, received_at=received_at, **counts,
        ))  # fmt: skip
    return rows


def session_updates_store(updates: list[ReleaseHealthSession]) -> None:
    """Each sid at its latest update; a terminal status (exited, crashed, abnormal) is never reopened."""
    latest: dict[uuid.UUID, ReleaseHealthSession] = {}
    for update in updates:  # an envelope may carry several updates of one session
        if (held := latest.get(update.sid)) is None or _newer(update, held):
            latest[update.sid] = update
    stored = {row.sid: row for row in ReleaseHealthSession.objects.select_for_update().filter(sid__in=latest)}
    for sid, update in latest.items():
        if (row := stored.get(sid)) is None:
            update.save(force_insert=True)
        elif _newer(update, row):
            update.pk = row.pk
            update.save(force_update=True)


def _newer(update: ReleaseHealthSession, held: ReleaseHealthSession) -> bool:
    if held.status in TERMINAL_STATUSES and update.status not in TERMINAL_STATUSES:
        return False
    return update.updated >= held.updated or update.status in TERMINAL_STATUSES


def aggregates_store(rows: list[ReleaseHealthAggregate]) -> None:
    ReleaseHealthAggregate.objects.bulk_create(rows, ignore_conflicts=True)
