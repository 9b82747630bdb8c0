"""Ingest client: queues events (in memory or on disk), sends them in gzip batches and retries per API.md."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from threading import Lock
from typing import Any

import requests

from edgeportal_client.deadletter import DEAD_LETTER, SPLIT, DeadLetterBox, DeliveryStats, PoisonControl
from edgeportal_client.events import format_timestamp

INGEST_PATH = "/api/v1/ingest/"
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
SERVER_MAX_EVENTS = 1_000  # API.md: more events than this is a 413
SERVER_MAX_BODY_BYTES = 5 * 1024 * 1024  # API.md: measured after decompression
USER_AGENT = "edgeportal-client/1"
START_OF_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# Failures where the request may not have reached the server, or its answer was lost: safe to resend
# because every event carries its idempotent event_id.
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass
class FlushResult:
    """What one flush did; ``last_error`` says why it stopped early (None when every batch got an answer)."""

    sent: int = 0  # events in batches the server answered 2xx
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {"event_id", "errors"}: dropped, never resent
    remaining: int = 0  # events still queued after the flush
    last_error: str | None = None


@dataclass(frozen=True)
class _Queued:
    event_id: str
    body: bytes  # the event's JSON, encoded once so every retry resends identical bytes


class _MemoryQueue:
    """Events in insertion order, keyed by event_id so recording an event twice queues it once."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}
        self._lock = Lock()

    def put(self, item: _Queued) -> None:
        with self._lock:
            self._items[item.event_id] = item.body

    def load(self) -> tuple[list[_Queued], list[str]]:
        with self._lock:
            return [_Queued(event_id, body) for event_id, body in self._items.items()], []

    def remove(self, event_ids: list[str]) -> None:
        with self._lock:
            for event_id in event_ids:
                self._items.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._items)


class _DiskQueue:
    """One ``<event_id>.json`` file per event, written atomically; survives crashes and restarts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(".*.tmp"):  # a write interrupted before os.replace never became an event
            stale.unlink(missing_ok=True)

    def put(self, item: _Queued) -> None:
        temporary = self.directory / f".{item.event_id}.{os.getpid()}.tmp"
        with open(temporary, "wb") as file:
            file.write(item.body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / f"{item.event_id}.json")
        self._sync_directory()  # the rename itself must reach the disk, or a power cut loses the event

    def load(self) -> tuple[list[_Queued], list[str]]:
        items, unreadable = [], []
        for path in sorted(self.directory.glob("*.json")):  # UUIDv7 names sort by creation time
            try:
                body = path.read_bytes()
                json.loads(body)
            except FileNotFoundError:
                continue
            except (OSError, ValueError):
                # one damaged file must not block the queue (the server would 400 the whole batch)
                path.replace(path.with_suffix(".corrupt"))
                unreadable.append(path.stem)
                continue
            items.append(_Queued(path.stem, body))
        return items, unreadable

    def remove(self, event_ids: list[str]) -> None:
        # no directory fsync: an event that reappears after a power cut is resent and counted as a duplicate
        for event_id in event_ids:
            (self.directory / f"{event_id}.json").unlink(missing_ok=True)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))

    def _sync_directory(self) -> None:
        with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened for fsync
            descriptor = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(header) - now).total_seconds())
    except (TypeError, ValueError):
        return None


class EdgePortalClient:
    """Queues API.md events and delivers them to ``POST {base_url}/api/v1/ingest/`` at least once."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        device: Mapping[str, Any],
        *,
        queue_dir: Path | str | None = None,
        batch_size: int = 500,
        max_body_bytes: int = 4 * 1024 * 1024,
        timeout: float = 10,
        max_retries: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 60,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        rng: random.Random | None = None,
        dead_letter_path: Path | str | None = None,
        max_server_errors: int = 3,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not api_key:
            raise ValueError("api_key is required")
        if not isinstance(device.get("uid"), str) or not isinstance(device.get("model"), str):
            raise ValueError("device needs at least a string 'uid' and 'model'")
        if not 1 <= batch_size <= SERVER_MAX_EVENTS:
            raise ValueError(f"batch_size must be within 1..{SERVER_MAX_EVENTS}, got {batch_size}")
        if not 0 < max_body_bytes <= SERVER_MAX_BODY_BYTES:
            raise ValueError(f"max_body_bytes must be within 1..{SERVER_MAX_BODY_BYTES}, got {max_body_bytes}")
        if timeout <= 0 or max_retries < 0 or backoff_base <= 0 or backoff_cap < backoff_base:
            raise ValueError("need timeout > 0, max_retries >= 0 and 0 < backoff_base <= backoff_cap")
        self.url = base_url.rstrip("/") + INGEST_PATH
        self._device_json = json.dumps(dict(device), separators=(",", ":"), ensure_ascii=False).encode()
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._queue = _DiskQueue(Path(queue_dir)) if queue_dir is not None else _MemoryQueue()
        self.batch_size = batch_size
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._flush_lock = Lock()  # two overlapping flushes would send the same events twice
        if dead_letter_path is None and queue_dir is not None:
            dead_letter_path = Path(queue_dir) / "dead-letter.jsonl"  # not *.json: never loaded as an event
        self._poison = PoisonControl(
            dead_letters=DeadLetterBox(dead_letter_path), max_server_errors=max_server_errors, clock=clock
        )
        self._api_key = api_key
        self._device_uid = device["uid"]
        self._base_url = base_url
        self._assignments = None

    # -- public API ----------------------------------------------------------------------------------------

    def record(self, event: Mapping[str, Any]) -> str:
        """Queue an event (built by session_event/crash_event) for the next flush; returns its event_id."""
        try:
            event_id = str(uuid.UUID(str(event["event_id"])))
        except (KeyError, ValueError):
            raise ValueError("event needs a UUID 'event_id' (build it with session_event/crash_event)") from None
        body = json.dumps(dict(event), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
        self._queue.put(_Queued(event_id, body))
        return event_id

    @property
    def stats(self) -> DeliveryStats:
        """Dead-lettered batches and events, splits after repeated 5xx (edgeportal_client/deadletter.py)."""
        return self._poison.stats

    @property
    def dead_letters(self) -> DeadLetterBox:
        return self._poison.dead_letters

    @property
    def queued(self) -> int:
        """Number of events waiting to be sent."""
        return len(self._queue)

    def flush(self) -> FlushResult:
        """Send every queued event; stops at the first batch that cannot be delivered and keeps it queued."""
        with self._flush_lock:
            result = FlushResult()
            items, unreadable = self._queue.load()
            for event_id in unreadable:
                result.rejected.append({"event_id": event_id, "errors": {"queue": ["queued file unreadable"]}})
            work = deque(self._batches(items, result))
            while work:
                batch = work.popleft()
                answer = self._post(batch)
                if isinstance(answer, str):
                    result.last_error = answer
                    break
                if 200 <= answer.status_code < 300:
                    self._settle(batch, answer, result)
                    self._poison.delivered(batch)
                elif answer.status_code == 413 and len(batch) > 1:
                    middle = len(batch) // 2
                    work.extendleft([batch[middle:], batch[:middle]])
                elif answer.status_code == 413:
                    self._drop(batch[0], {"size": ["server answered 413 for this event alone"]}, result)
                elif answer.status_code == 400:  # a poisoned batch: dead-lettered, the queue moves on
                    self._poison.bad_request(batch, answer.status_code, answer.text)
                    for item in batch:
                        self._drop(item, {"dead_letter": [f"HTTP 400: {answer.text[:500]}"]}, result)
                elif answer.status_code >= 500:  # kept for a later flush, split after repeated failures
                    result.last_error = f"HTTP {answer.status_code}: {answer.text[:500]}"
                    verdict = self._poison.server_error(batch, answer.status_code, answer.text)
                    if verdict == SPLIT:
                        middle = len(batch) // 2
                        work.extendleft([batch[middle:], batch[:middle]])
                    elif verdict == DEAD_LETTER:
                        self._drop(batch[0], {"dead_letter": [result.last_error]}, result)
                else:  # 401/403/415/3xx...: the key or the setup, not the data; an operator has to look
                    result.last_error = f"HTTP {answer.status_code}: {answer.text[:500]}"
                    break
            result.remaining = len(self._queue)
            return result

    def assigned_version(self, model: str) -> str | None:
        """The version of `model` this device should run (edgeportal_client.assignment: cached, kept offline)."""
        if self._assignments is None:
            from edgeportal_client.assignment import AssignmentClient

            self._assignments = AssignmentClient(
                self._base_url, self._api_key, device_uid=self._device_uid, timeout=self.timeout, session=self._session
            )
        return self._assignments.assigned_version(model)

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> EdgePortalClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------

    def _envelope(self, batch: list[_Queued], sent_at: str) -> bytes:
        head = b'{"device":' + self._device_json + b',"sent_at":"' + sent_at.encode() + b'","events":['
        return head + b",".join(item.body for item in batch) + b"]}"

    def _batches(self, items: list[_Queued], result: FlushResult) -> Iterator[list[_Queued]]:
        overhead = len(self._envelope([], format_timestamp(START_OF_TIME)))  # every sent_at has this length
        batch: list[_Queued] = []
        size = overhead
        for item in items:
            if overhead + len(item.body) > self.max_body_bytes:
                self._drop(item, {"size": [f"event alone exceeds max_body_bytes={self.max_body_bytes}"]}, result)
                continue
            separator = 1 if batch else 0
            if batch and (len(batch) >= self.batch_size or size + separator + len(item.body) > self.max_body_bytes):
                yield batch
                batch, size, separator = [], overhead, 0
            batch.append(item)
            size += separator + len(item.body)
        if batch:
            yield batch

    def _backoff(self, attempt: int) -> float:
        # full jitter (uniform below an exponential, capped ceiling) spreads a fleet's retries apart
        return min(self.backoff_cap, self.backoff_base * 2**attempt) * self._rng.random()

    def _post(self, batch: list[_Queued]) -> requests.Response | str:
        """POST one batch, retrying 429/502/503/504 and network errors; a str says why it gave up."""
        attempt = 0
        while True:
            # rebuilt on every attempt so sent_at is the time this very request leaves the device
            body = gzip.compress(self._envelope(batch, format_timestamp(self._clock())), mtime=0)
            retry_after = None
            try:
                response = self._session.post(
                    self.url, data=body, headers=self._headers, timeout=self.timeout, allow_redirects=False
                )
            except NETWORK_ERRORS as exc:
                failure = f"network error: {type(exc).__name__}: {exc}"
            except requests.RequestException as exc:  # bad URL, bad proxy config...: not transient
                return f"request failed: {type(exc).__name__}: {exc}"
            else:
                if response.status_code not in RETRYABLE_STATUSES:
                    return response
                failure = f"HTTP {response.status_code}"
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"), self._clock())
            if attempt >= self.max_retries:
                return f"{failure} (gave up after {attempt + 1} attempts)"
            delay = self._backoff(attempt)
            if retry_after is not None:
                if retry_after > self.backoff_cap:
                    return f"{failure}; server asked to retry after {retry_after:.0f} s, flush again later"
                delay = max(delay, retry_after)
            self._sleep(delay)
            attempt += 1

    def _settle(self, batch: list[_Queued], response: requests.Response, result: FlushResult) -> None:
        """Apply a 2xx answer: every event of the batch leaves the queue, rejected ones are reported."""
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        rejected_ids: dict[str, Any] = {}
        for item in answer.get("rejected") or []:
            if not isinstance(item, dict):
                continue
            index = item.get("index")
            if isinstance(index, int) and 0 <= index < len(batch):
                event_id = batch[index].event_id
            else:
                event_id = str(item.get("event_id"))
            rejected_ids[event_id] = item.get("errors")
        duplicates = answer.get("duplicates")
        duplicates = duplicates if isinstance(duplicates, int) else 0
        accepted = answer.get("accepted")
        accepted = accepted if isinstance(accepted, int) else len(batch) - len(rejected_ids) - duplicates
        result.sent += len(batch)
        result.accepted += accepted
        result.duplicates += duplicates
        result.rejected.extend({"event_id": key, "errors": errors} for key, errors in rejected_ids.items())
        self._queue.remove([item.event_id for item in batch])

    def _drop(self, item: _Queued, errors: dict[str, Any], result: FlushResult) -> None:
        result.rejected.append({"event_id": item.event_id, "errors": errors})
        self._queue.remove([item.event_id])
