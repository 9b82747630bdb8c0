"""The ingest service (the device API's one write): decode cheaply, validate per item, write set-based in one transaction."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from django.conf import settings
from django.db import transaction
from isal import isal_zlib

from core.collector import collector_paused
from core.models import ApiKey

from ..models import CrashGroupStatus, CrashReport, InferenceSession
from . import wire
from .bulk import (
    GroupCount,
    GroupSeed,
    crash_groups_count,
    crash_groups_resolve,
    device_upsert,
    session_crash_link,
    session_ids_by_event,
)
from .catalog import stack_of, stacks_resolve
from .clock import Clock, device_clock
from .crashes import crash_identity, frames_scrub, secrets_scrub, version_newer
from .dirty_hours import rollup_hours_mark_dirty
from .histograms import NeedsRaw, samples_histograms, session_histogram
from .partials import crashed_partials_insert, session_partials_insert
from .raw_insert import EventsAlreadyStored, rows_insert_skipping_stored

SESSION_COLUMNS = (
    "event_id", "device_id", "session_id", "device_model_id", "model_version_id", "runtime_version_id",
    "delegate_id", "app_version", "os_version", "started_at", "received_at", "clock_offset_s", "clock_flag",
    "duration_s", "inferences", "errors", "latency_histogram", "accelerated_fraction", "fallback_ops",
    "peak_rss_mb", "thermal_state", "has_crash", "in_partial", "energy_mj_per_inference",
)  # fmt: skip
CRASH_COLUMNS = (
    "event_id", "device_id", "session_id", "inference_session_id", "group_id", "fingerprint", "device_model_id",
    "model_version_id", "runtime_version_id", "delegate_id", "app_version", "os_version", "occurred_at", "received_at",
    "clock_offset_s", "clock_flag", "kind", "signal", "exception_type", "message", "frames",
)  # fmt: skip


class IngestError(Exception):
    """The batch is refused as a whole (API.md: 400/403/413/415), nothing stored."""

    def __init__(self, status: int, error: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail or {}


@dataclass
class IngestResult:
    """The 202 body of API.md: accepted, duplicates, rejected (index, event_id, errors)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Hours this batch found clean and marked dirty: the caller queues their rollup once the batch is committed.
    hours_to_roll_up: set[datetime] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def body_decompress(*, body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The JSON bytes of a body, inflating gzip incrementally and never past `max_bytes` (gzip bombs: 413)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > max_bytes:
            raise IngestError(413, f"body is over {max_bytes} bytes")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise IngestError(415, f"Content-Encoding {content_encoding!r} is not supported (use gzip or none)")
    chunks, total, pending = [], 0, body
    try:
        while pending:  # a gzip body may hold several members
            # ISA-L inflates ~4x faster than zlib (the same API): 1.5 of the web's ~20 µs per event with zlib.
            inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
            chunk = inflater.decompress(pending, max_bytes - total + 1)
            total += len(chunk)
            chunks.append(chunk)
            if total > max_bytes or inflater.unconsumed_tail:
                raise IngestError(413, f"body is over {max_bytes} bytes after decompression")
            if not inflater.eof:
                raise IngestError(400, "gzip body is truncated", {"body": ["incomplete gzip stream"]})
            pending = inflater.unused_data
    except isal_zlib.error as error:
        raise IngestError(400, "body is not valid gzip", {"body": [str(error)]}) from None
    return b"".join(chunks)


def _events_fast(envelope: wire.TypedEnvelope) -> tuple[list, list, int] | None:
    """_events_decode for a batch msgspec decoded whole; None if an event needs the slow path."""
    sessions, crashes, seen = [], [], set()
    duplicates = 0
    sampled = [event.latency_ms for event in envelope.events if event.__class__ is wire.SessionIn and event.latency_ms]
    samples = iter(samples_histograms(sampled)) if sampled else None
    session_class, max_offset = wire.SessionIn, wire.MAX_UTC_OFFSET
    try:
        for index, event in enumerate(envelope.events):
            is_session = event.__class__ is session_class
            # Bucketed above in this order, duplicates included.
            of_samples = next(samples) if is_session and event.latency_ms else None
            event_key = event.event_id.int  # hash(UUID) is hash(.int), via a Python-level __hash__
            if event_key in seen:
                duplicates += 1
                continue
            seen.add(event_key)
            at = event.started_at if is_session else event.occurred_at
            # wire.offset_out_of_range inline, skipped for UTC (msgspec's tzinfo of "Z" and "+00:00" is UTC itself)
            if at.tzinfo is not UTC and abs(at.utcoffset()) > max_offset:
                return None  # reported by index on the slow path
            if is_session:
                sessions.append((index, event, session_histogram(event, None, of_samples)))
            else:
                crashes.append((index, event))
    except (NeedsRaw, ValueError):  # ValueError: the histogram's own validation, reported by index below
        return None
    return sessions, crashes, duplicates


def _events_decode(
    envelope: wire.Envelope, result: IngestResult
) -> tuple[list[tuple[int, wire.SessionIn, dict]], list[tuple[int, wire.CrashIn]]]:
    sessions, crashes, seen = [], [], set()
    for index, raw in enumerate(envelope.events):
        try:
            event = wire.event_decode(raw)
            histogram = session_histogram(event, raw) if isinstance(event, wire.SessionIn) else None
        except msgspec.ValidationError as error:
            result.rejected.append(
                {"index": index, "event_id": wire.event_id_peek(raw), "errors": wire.validation_errors(error)}
            )
            continue
        except msgspec.DecodeError as error:
            result.rejected.append({"index": index, "event_id": None, "errors": {"event": [str(error)]}})
            continue
        except UnicodeDecodeError:
            errors = {path: [wire.UTF8_ERROR] for path in wire.invalid_utf8_paths(raw)}
            result.rejected.append({"index": index, "event_id": None, "errors": errors})
            continue
        except RecursionError:
            result.rejected.append({"index": index, "event_id": None, "errors": {"event": [wire.DEPTH_ERROR]}})
            continue
        except ValueError as error:  # the histogram's own validation (edgeportal_client.histogram)
            result.rejected.append(
                {"index": index, "event_id": str(event.event_id), "errors": {"latency_histogram": [str(error)]}}
            )
            continue
        if wire.has_nul_escape(bytes(raw)) and (paths := wire.nul_paths(msgspec.json.decode(raw))):
            errors = {path: [wire.NUL_ERROR] for path in paths}
            result.rejected.append({"index": index, "event_id": str(event.event_id), "errors": errors})
            continue
        at_field = "started_at" if histogram is not None else "occurred_at"
        if wire.offset_out_of_range(getattr(event, at_field)):
            _reject(result, index, event, {at_field: [wire.OFFSET_ERROR]})
            continue
        if event.event_id in seen:  # the same event twice in one batch is a duplicate, like a resend
            result.duplicates += 1
            continue
        seen.add(event.event_id)
        if histogram is None:
            crashes.append((index, event))
        else:
            sessions.append((index, event, histogram))
    return sessions, crashes


@collector_paused()  # its ~30k objects live until it ends, then die by reference count
def session_batch_ingest(
    *, api_key: ApiKey, body: bytes, content_encoding: str | None, received_at: datetime
) -> IngestResult:
    """Ingests one API.md batch: every valid event stored once, invalid ones rejected by index, in one transaction.

    Raises IngestError for a batch refused as a whole; database errors propagate (the view answers 503).
    """
    payload = body_decompress(body=body, content_encoding=content_encoding, max_bytes=settings.INGEST_MAX_BODY_BYTES)
    envelope = wire.envelope_typed_decode(payload)
    has_nul = wire.has_nul_escape(payload)
    fast = _events_fast(envelope) if envelope is not None and not has_nul else None
    if fast is None:  # some event is invalid: decode event by event to report each by index
        try:
            envelope = wire.envelope_decode(payload)
        except wire.EnvelopeError as error:
            raise IngestError(400, str(error), error.detail) from None
    if has_nul and (paths := wire.nul_paths(msgspec.to_builtins(envelope.device), "device")):
        raise IngestError(400, f"{paths[0]} {wire.NUL_ERROR}", {path: [wire.NUL_ERROR] for path in paths})
    if len(envelope.events) > settings.INGEST_MAX_EVENTS:
        raise IngestError(413, f"batch has {len(envelope.events)} events, at most {settings.INGEST_MAX_EVENTS} allowed")
    if api_key.device_uid and api_key.device_uid != envelope.device.uid:
        raise IngestError(403, "this API key is bound to another device", {"device.uid": ["does not match the key"]})

    result = IngestResult()
    if fast is None:
        sessions, crashes = _events_decode(envelope, result)
    else:
        sessions, crashes, result.duplicates = fast
    try:
        clock = device_clock(sent_at=envelope.sent_at, received_at=received_at)
    except wire.EnvelopeError as error:
        raise IngestError(400, str(error), error.detail) from None
    decoded = (list(result.rejected), result.duplicates)
    try:
        with transaction.atomic():
            _batch_store(api_key=api_key, envelope=envelope, sessions=sessions, crashes=crashes, clock=clock,
                         result=result, expect_stored=False)  # fmt: skip
    except EventsAlreadyStored:  # a resend, or a batch sharing events with one just stored: rolled back, redo
        result.rejected, result.duplicates, result.accepted = list(decoded[0]), decoded[1], 0
        result.hours_to_roll_up = set()
        with transaction.atomic():
            _batch_store(api_key=api_key, envelope=envelope, sessions=sessions, crashes=crashes, clock=clock,
                         result=result, expect_stored=True)  # fmt: skip
    result.rejected.sort(key=lambda item: item["index"])
    return result


def _reject(result: IngestResult, index: int, event: wire.SessionIn | wire.CrashIn, errors: dict) -> None:
    result.rejected.append({"index": index, "event_id": str(event.event_id), "errors": dict(errors)})


def _batch_store(
    *, api_key, envelope, sessions, crashes, clock: Clock, result: IngestResult, expect_stored: bool
) -> None:
    info = envelope.device
    # Each event's stack once (a 5-tuple built by attrgetter): the catalog read, the rejections and the rows.
    session_stacks = list(map(stack_of, [event for _, event, _ in sessions]))
    crash_stacks = list(map(stack_of, [event for _, event in crashes]))
    device_model_id, stacks = stacks_resolve(
        device_model=info.model, key_prefix=api_key.prefix, stacks={*session_stacks, *crash_stacks}
    )
    if device_model_id is None:  # every event is rejected, each with all of its errors
        for (index, event), stack in zip(
            [(index, event) for index, event, _ in sessions] + crashes, session_stacks + crash_stacks, strict=True
        ):
            _reject(result, index, event, stacks[stack])
        return

    # The events whose stack resolved, each with its ids and its corrected time (computed once per event: the
    # device's first/last seen and the rows both need it); the others are rejected here, by index.
    correct = clock.correct
    stored_sessions, stored_crashes = [], []
    for (index, event, histogram), stack in zip(sessions, session_stacks, strict=True):
        ids = stacks[stack]
        if ids.__class__ is dict:
            _reject(result, index, event, ids)
        else:
            stored_sessions.append((event, histogram, ids, correct(event.started_at)))
    for (index, event), stack in zip(crashes, crash_stacks, strict=True):
        ids = stacks[stack]
        if ids.__class__ is dict:
            _reject(result, index, event, ids)
        else:
            stored_crashes.append((event, ids, correct(event.occurred_at)))

    app_version, os_version = info.app_version or "", info.os_version or ""
    # First/last seen are the device's earliest and latest stored event times, not the batch's arrival.
    seen = [corrected[0] for *_, corrected in stored_sessions] + [corrected[0] for *_, corrected in stored_crashes]
    device_id = device_upsert(
        uid=info.uid, device_model_id=device_model_id, os_version=os_version, app_version=app_version,
        firmware=info.firmware or "", fleet=api_key.fleet,
        first_seen_at=min(seen, default=clock.received_at), last_seen_at=max(seen, default=clock.received_at),
        device_bound=bool(api_key.device_uid),
    )  # fmt: skip
    if device_id is None:  # raised inside the transaction: the catalog registrations roll back with it
        raise IngestError(403, "this API key may not post for this device",
                          {"device.uid": ["belongs to another fleet, or has its own device key"]})  # fmt: skip
    cohort = (device_id, device_model_id, app_version, os_version)
    # A session whose crash is in the same batch (the usual case: the app reports both on its next start) is
    # stored flagged: updating it afterwards would write the row and its seven index entries twice.
    crashed = {event.session_id for event, _, _ in stored_crashes}
    touched, flagged = _sessions_store(sessions=stored_sessions, cohort=cohort, clock=clock, result=result,
                                       crashed=crashed, expect_stored=expect_stored)  # fmt: skip
    # Their crashes are stored linked to them: linking afterwards would update each crash row and its indexes.
    linked = session_ids_by_event(device_id=device_id, sessions=flagged) if flagged else {}
    crash_hours, counts = _crashes_store(crashes=stored_crashes, cohort=cohort, clock=clock, result=result,
                                         linked=linked, expect_stored=expect_stored)  # fmt: skip
    flipped = session_crash_link(device_id=device_id)
    crashed_partials_insert(flipped=[(started, cohort, device_id) for started, cohort, summed in flipped if summed])
    touched += crash_hours + [started for started, _, _ in flipped]
    # The two writes every batch makes to the same few rows (its groups' counters, its hours' dirty marks) come
    # last: their row locks are held until commit, so concurrent batches queue only for the end of each other.
    crash_groups_count(device_id=device_id, counts=counts, seen_at=clock.received_at)
    # Marks the hours dirty in this transaction; the caller queues the rollup of those that were clean.
    result.hours_to_roll_up = rollup_hours_mark_dirty(hours=touched)


def _sessions_store(
    *, sessions, cohort, clock: Clock, result: IngestResult, crashed: set[str], expect_stored: bool
) -> tuple[list[datetime], list]:
    """Stores the sessions (event, histogram, stack ids, corrected time) whose stack resolved (`crashed`: session ids
    with a crash in the batch).

    Returns the hours of those actually inserted, and (event_id, session_id, started_at) of those inserted flagged
    as crashed.
    """
    device_id, device_model_id, app_version, os_version = cohort
    received_at = clock.received_at
    rows = [
        (
            event.event_id, device_id, event.session_id, device_model_id, model_version_id, runtime_version_id,
            delegate_id, app_version, os_version, started_at, received_at, offset_s,
            clock_flag, event.duration_s, event.inferences, event.errors, histogram,
            event.accelerated_fraction, event.fallback_ops, event.peak_rss_mb, event.thermal_state or "",
            event.session_id in crashed, True, event.energy_mj_per_inference,
        )
        for event, histogram, (model_version_id, runtime_version_id, delegate_id), (started_at, clock_flag, offset_s)
        in sessions
    ]  # fmt: skip
    skipped = rows_insert_skipping_stored(
        model=InferenceSession, columns=SESSION_COLUMNS, rows=rows, expect_stored=expect_stored
    )
    result.accepted += len(rows) - len(skipped)
    result.duplicates += len(skipped)
    if skipped:
        rows = [row for row in rows if row[0] not in skipped]
    if not rows:
        return [], []
    columns = dict(zip(SESSION_COLUMNS, zip(*rows, strict=True), strict=True))
    hours = session_partials_insert(device_id=device_id, columns=columns)
    if not crashed:
        return hours, []
    flags = zip(columns["event_id"], columns["session_id"], columns["started_at"], columns["has_crash"], strict=True)
    return hours, [(event_id, session_id, started) for event_id, session_id, started, flag in flags if flag]


def _crashes_store(
    *, crashes, cohort, clock: Clock, result: IngestResult, linked: dict[str, int], expect_stored: bool
) -> tuple[list[datetime], list[GroupCount]]:
    """Scrubs and groups each crash (event, stack ids, corrected time) whose stack resolved and stores them.

    `linked`: {session_id: InferenceSession id} of the sessions this batch stored, for their crashes. Returns the
    times of the crashes inserted and what they add to their groups (for crash_groups_count, at the batch's end).
    """
    device_id, device_model_id, app_version, os_version = cohort
    prepared, seeds = [], {}
    for event, ids, (occurred_at, clock_flag, offset_s) in crashes:
        message = secrets_scrub(event.message)
        frames = frames_scrub([msgspec.structs.asdict(frame) for frame in event.frames])
        signal, exception_type = event.signal or "", event.exception_type or ""
        identity = crash_identity(
            kind=event.kind, signal=signal, exception_type=exception_type, message=message, frames=frames
        )
        prepared.append((ids, event, identity.fingerprint, occurred_at, clock_flag, offset_s, message, frames))
        seed = seeds.get(identity.fingerprint)
        first = min(occurred_at, seed.first_seen_at) if seed else occurred_at
        last = max(occurred_at, seed.last_seen_at) if seed else occurred_at
        seeds[identity.fingerprint] = GroupSeed(
            identity.fingerprint, identity.title, identity.culprit, event.kind, first, last
        )
    if not prepared:
        return [], []
    groups = crash_groups_resolve(seeds=list(seeds.values()))
    rows = []
    for ids, event, fingerprint, occurred_at, clock_flag, offset_s, message, frames in prepared:
        model_version_id, runtime_version_id, delegate_id = ids
        rows.append((
            event.event_id, device_id, event.session_id, linked.get(event.session_id), groups[fingerprint].id,
            groups[fingerprint].fingerprint,
            device_model_id,
            model_version_id, runtime_version_id, delegate_id, app_version, os_version, occurred_at,
            clock.received_at, offset_s, clock_flag, event.kind, event.signal or "",
            event.exception_type or "", message, frames,
        ))  # fmt: skip
    skipped = rows_insert_skipping_stored(
        model=CrashReport, columns=CRASH_COLUMNS, rows=rows, expect_stored=expect_stored
    )
    result.accepted += len(rows) - len(skipped)
    result.duplicates += len(skipped)

    # By group, not fingerprint: two fingerprints of one batch may land in one group (a merged-away alias).
    per_group: dict[int, list[datetime]] = defaultdict(list)
    states = {}
    for _, event, fingerprint, occurred_at, *_ in prepared:
        if event.event_id not in skipped:
            state = groups[fingerprint]
            states[state.id] = state
            per_group[state.id].append(occurred_at)
    counts = []
    for group_id, times in per_group.items():
        state = states[group_id]
        regressed = state.status == CrashGroupStatus.RESOLVED and (
            not state.resolved_in_version
            or (bool(app_version) and version_newer(app_version, state.resolved_in_version))
        )
        counts.append(GroupCount(state.id, len(times), min(times), max(times), regressed))
    return [time for times in per_group.values() for time in times], counts
