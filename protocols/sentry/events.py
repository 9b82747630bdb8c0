"""A Sentry event as the ingest service's crash event, and its device; pure functions, dicts in, dicts out.

Documented mapping (docs/protocols/sentry.md): tags `edge.model`, `edge.model_version`, `edge.runtime`,
`edge.runtime_version`, `edge.delegate` name the inference stack; `edge.device_model` (else contexts.device's
manufacturer + model, slugified) the device model; `edge.device_uid`, else `user.id`, else `contexts.device.id`,
else a hash of `server_name` is the device uid; `edge.session_id` links the crash to an inference session.
"""

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from django.utils.text import slugify

STACK_TAGS = ("model", "model_version", "runtime", "runtime_version", "delegate")
NATIVE_MECHANISMS = {"signalhandler", "minidump", "crashpad", "breakpad", "mach", "segv", "sentry-native"}
WATCHDOG_MECHANISMS = {"anr", "apphang", "watchdog_termination", "anr_foreground", "anr_background"}
MAX_FRAMES = 256
MAX_BREADCRUMBS = 100
# Events without an exception at these levels are messages and logs, not crashes: acknowledged, not stored.
NON_CRASH_LEVELS = {"debug", "info", "warning", "log"}


class EventError(ValueError):
    """The event cannot become a crash report: `detail` names each missing or bad field."""

    def __init__(self, message: str, detail: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.detail = detail


def sentry_time(value: Any, field: str = "timestamp") -> datetime:
    """Sentry's timestamps: an epoch number or RFC 3339 text (UTC when no offset is given)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise EventError(f"{field} is not a timestamp", {field: [f"not a timestamp: {value!r}"[:200]]})


def event_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise EventError("event_id is not a UUID", {"event_id": ["not a UUID"]}) from None


def _tags(event: dict) -> dict[str, str]:
    tags = event.get("tags") or {}
    if isinstance(tags, list):  # the older [[key, value], ...] form
        tags = {pair[0]: pair[1] for pair in tags if isinstance(pair, list | tuple) and len(pair) == 2}
    return {str(key): str(value) for key, value in tags.items()} if isinstance(tags, dict) else {}


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def app_version_of(release: str) -> str:
    """`package@1.2.3+45` → `1.2.3+45`: the version part of a Sentry release."""
    return release.rpartition("@")[2][:40] if release else ""


def device_of(event: dict) -> dict[str, Any]:
    """The ingest batch's `device` object for this event."""
    tags, contexts = _tags(event), _obj(event.get("contexts"))
    device, os_context = _obj(contexts.get("device")), _obj(contexts.get("os"))
    model = tags.get("edge.device_model") or slugify(
        " ".join(str(part) for part in (device.get("manufacturer"), device.get("model")) if part)
    )
    uid = tags.get("edge.device_uid") or str(_obj(event.get("user")).get("id") or device.get("id") or "")
    if not uid:  # stable per host: the same machine always lands on the same device
        uid = "sentry-" + hashlib.sha256(str(event.get("server_name") or "unknown").encode()).hexdigest()[:16]
    os_version = " ".join(str(part) for part in (os_context.get("name"), os_context.get("version")) if part)
    return {
        "uid": uid[:128],
        "model": model,
        "os_version": os_version[:80] or None,
        "app_version": app_version_of(str(event.get("release") or "")) or None,
        "firmware": str(os_context.get("build") or "")[:120] or None,
    }


def _exception(event: dict) -> dict:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    # Sentry lists chained exceptions innermost first; the last one is what the app saw raised.
    return _obj(values[-1]) if isinstance(values, list) and values else {}


def _message(event: dict, exception: dict) -> str:
    if exception.get("value") is not None:
        return str(exception["value"])
    for field in ("logentry", "message"):
        value = event.get(field)
        if isinstance(value, dict):
            value = value.get("formatted") or value.get("message")
        if value:
            return str(value)
    return ""


def _frames(exception: dict, event: dict) -> list[dict[str, Any]]:
    stacktrace = _obj(exception.get("stacktrace")) or _obj(_obj(event.get("threads")).get("stacktrace"))
    frames = [frame for frame in stacktrace.get("frames") or [] if isinstance(frame, dict)]
    out = []
    for frame in reversed(frames[-MAX_FRAMES:]):  # Sentry orders caller first; the portal crashing frame first
        offset = frame.get("instruction_addr")
        if offset is None and frame.get("lineno") is not None:
            offset = f"{frame.get('filename') or ''}:{frame['lineno']}"
        out.append({
            "function": str(frame.get("function") or "")[:500] or None,
            "module": str(frame.get("module") or frame.get("package") or frame.get("filename") or "")[:500] or None,
            "offset": str(offset)[:200] if offset is not None else None,
            "in_app": frame.get("in_app") is True,
        })  # fmt: skip
    return out


def _kind_and_signal(event: dict, exception: dict) -> tuple[str, str | None]:
    mechanism = _obj(exception.get("mechanism"))
    signal = _obj(_obj(mechanism.get("meta")).get("signal"))
    mechanism_type = str(mechanism.get("type") or "").lower()
    if signal or mechanism_type in NATIVE_MECHANISMS or event.get("platform") == "native":
        name = signal.get("name") or (f"signal {signal['number']}" if "number" in signal else None)
        return "native", str(name)[:40] if name else None
    if mechanism_type in WATCHDOG_MECHANISMS:
        return "watchdog", None
    if "memory" in str(exception.get("type") or "").lower():  # MemoryError, OutOfMemoryError
        return "oom", None
    return "exception", None


def is_crash(event: dict) -> bool:
    """Exceptions, and error/fatal messages, are crashes; info/warning messages and logs are not."""
    return bool(_exception(event)) or str(event.get("level") or "error").lower() not in NON_CRASH_LEVELS


def handled_of(event: dict) -> bool | None:
    handled = _obj(_exception(event).get("mechanism")).get("handled")
    return handled if isinstance(handled, bool) else None


def crash_of(event: dict, *, event_id: uuid.UUID, received_at: datetime) -> dict[str, Any]:
    """The ingest `crash` event for a Sentry event; raises EventError when the stack tags are missing."""
    tags = _tags(event)
    missing = [f"edge.{tag}" for tag in STACK_TAGS if not tags.get(f"edge.{tag}")]
    if missing:
        raise EventError(
            "event lacks the inference-stack tags", {f"tags.{tag}": ["This tag is required."] for tag in missing}
        )
    exception = _exception(event)
    kind, signal = _kind_and_signal(event, exception)
    occurred = sentry_time(event["timestamp"]) if event.get("timestamp") is not None else received_at
    exception_type = exception.get("type")
    return {
        "type": "crash",
        "event_id": str(event_id),
        "session_id": tags.get("edge.session_id") or event_id.hex,
        "occurred_at": occurred.isoformat(),
        **{tag: tags[f"edge.{tag}"] for tag in STACK_TAGS},
        "kind": kind,
        "signal": signal,
        "exception_type": str(exception_type)[:255] if exception_type else None,
        "message": _message(event, exception),
        "frames": _frames(exception, event),
    }


_SECRETISH_KEY = re.compile(r"pass|secret|token|auth|cookie|key", re.IGNORECASE)


def breadcrumbs_of(event: dict, scrub) -> list[dict[str, Any]]:
    """The event's last breadcrumbs (time, category, level, message), messages scrubbed and secret-named data dropped."""
    crumbs = event.get("breadcrumbs")
    crumbs = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    out = []
    for crumb in (crumbs if isinstance(crumbs, list) else [])[-MAX_BREADCRUMBS:]:
        if not isinstance(crumb, dict):
            continue
        data = {k: scrub(str(v))[:500] for k, v in _obj(crumb.get("data")).items() if not _SECRETISH_KEY.search(k)}
        out.append({
            "timestamp": crumb.get("timestamp"),
            "category": str(crumb.get("category") or "")[:100],
            "level": str(crumb.get("level") or "")[:16],
            "message": scrub(str(crumb.get("message") or ""))[:1000],
            "data": data,
        })  # fmt: skip
    return out
