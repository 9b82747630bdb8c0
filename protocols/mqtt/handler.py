"""One MQTT message of `edgeportal/<device uid>/events` through the ingest service, as HTTP would take it.

Pure of paho: (topic, payload, user properties) in, (uid, status, body) out, so the rules test without a broker.
"""

import copy
import logging
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from ..ingest_bridge import ApiKeyScope, IngestError, api_key_lookup, session_batch_ingest
from ..metrics_counters import ingest_count, rejection_reason

logger = logging.getLogger(__name__)

TOPIC_PREFIX = "edgeportal/"
EVENTS_SUFFIX = "/events"


class DatabaseUnavailable(Exception):
    """The message is left unacknowledged: the broker redelivers it after the consumer reconnects."""


@dataclass(frozen=True)
class Outcome:
    """What to publish to `edgeportal/<uid>/acks` (the HTTP API's status and body) before acknowledging."""

    uid: str | None
    status: int
    body: dict


def uid_of(topic: str) -> str | None:
    if not (topic.startswith(TOPIC_PREFIX) and topic.endswith(EVENTS_SUFFIX)):
        return None
    uid = topic[len(TOPIC_PREFIX) : -len(EVENTS_SUFFIX)]
    return uid if uid and "/" not in uid else None


def _error(uid, status: int, error: str, detail: dict | None = None) -> Outcome:
    ingest_count(transport="mqtt", rejected={f"http_{status}": 1})
    return Outcome(uid, status, {"error": error, "detail": detail or {}})


def message_handle(*, topic: str, payload: bytes, user_properties: dict[str, str]) -> Outcome:
    """Authenticates (the `authorization` user property: `Bearer <key>` or the key), checks the topic's device
    against the key and the batch, stores; raises DatabaseUnavailable for a retry by redelivery."""
    uid = uid_of(topic)
    if uid is None:
        return _error(None, 400, f"topic {topic!r} is not edgeportal/<device uid>/events")
    raw_key = (user_properties.get("authorization") or "").removeprefix("Bearer ").strip()
    if not raw_key:
        return _error(uid, 401, "missing the authorization user property")
    try:
        api_key = api_key_lookup(raw_key)
    except AuthenticationFailed as error:
        return _error(uid, 401, str(error.detail))
    except (OperationalError, InterfaceError) as error:
        raise DatabaseUnavailable(str(error)) from error
    if not api_key.has_scope(ApiKeyScope.INGEST):
        return _error(uid, 403, "this API key has no ingest scope")
    if api_key.device_uid and api_key.device_uid != uid:
        return _error(uid, 403, "this API key is bound to another device", {"topic": ["does not match the key"]})
    # The service refuses a batch for another device than its key's: bound to the topic's device for this one
    # message, any key (a fleet key too) can publish only batches of the device its topic names.
    bound = copy.copy(api_key)
    bound.device_uid = uid
    try:
        result = session_batch_ingest(api_key=bound, body=payload,
                                      content_encoding=user_properties.get("content-encoding"),
                                      received_at=timezone.now())  # fmt: skip
    except IngestError as error:
        if error.status == 403 and not api_key.device_uid:
            return _error(uid, 403, "the batch's device.uid is not the topic's device", error.detail)
        return _error(uid, error.status, error.error, error.detail)
    except (OperationalError, InterfaceError) as error:
        raise DatabaseUnavailable(str(error)) from error
    reasons: dict[str, int] = {}
    for item in result.rejected:
        reason = rejection_reason(item.get("errors") or {})
        reasons[reason] = reasons.get(reason, 0) + 1
    ingest_count(transport="mqtt", accepted=result.accepted, duplicates=result.duplicates, rejected=reasons)
    return Outcome(uid, 202, result.as_dict())
