"""The ingest body (API.md) as msgspec Structs: decode the envelope once, then each event on its own.

Unknown fields are ignored (the contract only grows); a bad event is reported by its index, never fatal.
"""

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec

from edgeportal_client.histogram import GAMMA, GAMMA_TOLERANCE, MAX_ABS_KEY, MAX_BUCKETS, MAX_COUNT

from .spans import events_split

Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
Version = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
SessionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2_147_483_647)]  # PositiveIntegerField's range
Amount = Annotated[float, msgspec.Meta(ge=0, le=1e12)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
ShortText = Annotated[str, msgspec.Meta(max_length=120)]


# The documented uid alphabet (API.md): a uid is a URL path segment on every page that lists its device.
DEVICE_UID_PATTERN = "^[A-Za-z0-9._:-]{1,128}$"


class DeviceIn(msgspec.Struct):
    """The `device` object of a batch."""

    uid: Annotated[str, msgspec.Meta(pattern=DEVICE_UID_PATTERN)]
    model: Slug
    os_version: Annotated[str, msgspec.Meta(max_length=80)] | None = None
    app_version: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    firmware: ShortText | None = None


class Envelope(msgspec.Struct):
    """A batch: events stay raw here so one bad event cannot make the whole batch unreadable."""

    device: DeviceIn
    events: list[msgspec.Raw]
    sent_at: AwareDatetime | None = None


BucketKey = Annotated[int, msgspec.Meta(ge=-MAX_ABS_KEY, le=MAX_ABS_KEY)]
BucketCount = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]


class HistogramIn(msgspec.Struct):
    """The SDK's latency_histogram wire format, with LatencyHistogram.from_wire's rules and constants.

    Checked by msgspec's C decoder because from_wire costs ~50 µs per session in Python, about the whole
    per-event budget of the ingest path; tests/telemetry/test_ingest_histogram.py proves both accept and
    reject the same inputs.
    """

    gamma: Annotated[float, msgspec.Meta(ge=GAMMA - GAMMA_TOLERANCE, le=GAMMA + GAMMA_TOLERANCE)]
    counts: Annotated[dict[BucketKey, BucketCount], msgspec.Meta(max_length=MAX_BUCKETS)]
    zero_count: BucketCount = 0


class SessionIn(msgspec.Struct, tag_field="type", tag="session"):
    """A `session` event."""

    event_id: uuid.UUID
    session_id: SessionId
    started_at: AwareDatetime
    duration_s: Amount
    model: Slug
    model_version: Version
    runtime: Slug
    runtime_version: Version
    delegate: Slug
    inferences: Count
    errors: Count
    latency_ms: Annotated[list[Amount], msgspec.Meta(max_length=10_000)] | None = None
    latency_histogram: HistogramIn | None = None
    accelerated_fraction: Fraction | None = None
    fallback_ops: Annotated[list[ShortText], msgspec.Meta(max_length=1000)] = []
    peak_rss_mb: Amount | None = None
    thermal_state: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    energy_mj_per_inference: Amount | None = None  # optional (API.md grows): absent or null is "not reported"


class FrameIn(msgspec.Struct):
    """One stack frame of a crash."""

    function: Annotated[str, msgspec.Meta(max_length=8192)] | None = None
    module: Annotated[str, msgspec.Meta(max_length=8192)] | None = None
    offset: (
        Annotated[str, msgspec.Meta(max_length=64)] | Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None
    ) = None
    in_app: bool = False


class CrashIn(msgspec.Struct, tag_field="type", tag="crash"):
    """A `crash` event."""

    event_id: uuid.UUID
    session_id: SessionId
    occurred_at: AwareDatetime
    model: Slug
    model_version: Version
    runtime: Slug
    runtime_version: Version
    delegate: Slug
    kind: Annotated[str, msgspec.Meta(pattern="^(native|exception|oom|watchdog)$")]
    signal: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    exception_type: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    message: Annotated[str, msgspec.Meta(max_length=262_144)] | None = None  # stored cut to 4,096
    frames: Annotated[list[FrameIn], msgspec.Meta(max_length=256)] = []


class _EventIdOnly(msgspec.Struct):
    event_id: Any = None


class EnvelopeError(ValueError):
    """The envelope itself is unreadable (API.md: 400, nothing stored)."""

    def __init__(self, message: str, detail: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.detail = detail


class TypedEnvelope(msgspec.Struct):
    """The common case, a batch whose events are all valid: decoded in one C call, no per-event Python."""

    device: DeviceIn
    events: list[SessionIn | CrashIn]
    sent_at: AwareDatetime | None = None


_envelope_decoder = msgspec.json.Decoder(Envelope)
_typed_envelope_decoder = msgspec.json.Decoder(TypedEnvelope)
_event_decoder = msgspec.json.Decoder(SessionIn | CrashIn)
_event_id_decoder = msgspec.json.Decoder(_EventIdOnly)
_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$(?:\.)?(?P<path>[^`]*)`(?: in `\$\.?(?P<parent>[^`]*)`)?$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")


def validation_errors(error: msgspec.ValidationError, *, prefix: str = "") -> dict[str, list[str]]:
    """msgspec's message as the API's `{field: [reason]}` (the field path after `$.`)."""
    text = str(error)
    match = _AT_PATH.match(text)
    if match:
        path = match["parent"] if match["path"] == "key" and match["parent"] else match["path"]
        return {prefix + (path or "event").lstrip("."): [match["message"]]}
    missing = _MISSING.search(text)
    if missing:
        return {prefix + missing["field"]: ["This field is required."]}
    return {prefix.rstrip(".") or "event": [text]}


# msgspec raises these outside MsgspecError: invalid UTF-8 inside a string, and nesting past Python's recursion
# limit (~1,000 levels; skipping an unknown field recurses too, so the decoder's depth is the interpreter's).
DEPTH_ERROR = "JSON nests too deep to decode"
UTF8_ERROR = "is not valid UTF-8"
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)  # PostgreSQL's timestamptz refuses offsets beyond it
OFFSET_ERROR = "UTC offset beyond ±15:59"


def offset_out_of_range(value: datetime | None) -> bool:
    """Whether a timestamp's UTC offset is one PostgreSQL refuses (Python allows up to ±23:59)."""
    return value is not None and abs(value.utcoffset()) > MAX_UTC_OFFSET


def envelope_decode(body: bytes, *, events_split_done: bool = False) -> Envelope:
    """The batch envelope, or EnvelopeError naming what is unreadable."""
    try:
        return _envelope_decoder.decode(body)
    except msgspec.ValidationError as error:
        raise EnvelopeError("envelope is invalid", validation_errors(error)) from None
    except msgspec.DecodeError as error:
        raise EnvelopeError("body is not valid JSON", {"body": [str(error)]}) from None
    except UnicodeDecodeError as error:
        raise EnvelopeError(f"envelope {UTF8_ERROR}", {"body": [str(error)]}) from None
    except RecursionError:
        split = None if events_split_done else events_split(body)
        if split is None:  # the envelope itself nests too deep (or is unreadable around its events)
            raise EnvelopeError(DEPTH_ERROR, {"body": [DEPTH_ERROR]}) from None
    # Only an event nests too deep: the envelope without its events, then each event raw (rejected by index).
    envelope = envelope_decode(split[0], events_split_done=True)
    envelope.events = [msgspec.Raw(span) for span in split[1]]
    return envelope


def envelope_typed_decode(body: bytes) -> TypedEnvelope | None:
    """The batch with every event decoded, or None when anything is invalid (then decode event by event)."""
    try:
        return _typed_envelope_decoder.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        return None


def invalid_utf8_paths(raw: bytes) -> list[str]:
    """Paths of the strings holding invalid UTF-8 in an event msgspec refused (the slow path: bad events only)."""
    try:
        value = json.loads(bytes(raw).decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return ["event"]
    return string_paths(value, lambda text: any("\udc80" <= char <= "\udcff" for char in text)) or ["event"]


def event_decode(raw: msgspec.Raw) -> SessionIn | CrashIn:
    """One event; raises msgspec.ValidationError / DecodeError for the caller to report by index."""
    return _event_decoder.decode(raw)


def event_id_peek(raw: msgspec.Raw) -> str | None:
    """The event_id of an event that failed validation, for the rejection report (None if unreadable)."""
    try:
        value = _event_id_decoder.decode(raw).event_id
    except (msgspec.MsgspecError, RecursionError):  # skipping a too-deep field recurses too
        return None
    return value if isinstance(value, str) else None


# PostgreSQL's text and jsonb refuse U+0000. JSON can only carry it escaped, so a batch without this byte
# sequence has none (the fast path's one check); with it, nul_paths finds the strings that really hold one.
NUL_ESCAPE = b"\\u0000"


def has_nul_escape(text: bytes) -> bool:
    """Whether JSON text holds the \\u0000 escape. Most batches hold no backslash at all, which memchr tells in
    ~10 µs per MB; the escape itself ends in a digit, so searching for it scans ~50× slower in digit-rich JSON."""
    return b"\\" in text and NUL_ESCAPE in text


NUL_ERROR = "contains a NUL character (\\u0000), which cannot be stored"


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Paths (`frames[0].function`) of the strings, keys included, holding U+0000 in a decoded JSON value."""
    return string_paths(value, lambda text: "\x00" in text, path)


def string_paths(value: Any, bad: Callable[[str], bool], path: str = "") -> list[str]:
    """Paths of the strings, keys included, for which `bad` is true in a decoded JSON value."""
    if isinstance(value, str):
        return [path or "event"] if bad(value) else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found += [child] if isinstance(key, str) and bad(key) else string_paths(item, bad, child)
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in string_paths(item, bad, f"{path}[{i}]")]
    return []
