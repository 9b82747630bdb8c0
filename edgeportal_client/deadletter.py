"""A poisoned batch never blocks a device: what the client does with a batch the server will not take.

- 400 (the server cannot read the batch; resending the same bytes cannot help): every event of the batch
  goes to the dead-letter file with the reason and the server's body, and the flush moves on.
- 500 and other 5xx that are not retried in place (502/503/504 are: overload, storage down): the batch
  stays queued and the flush moves on to the next batch. After ``max_server_errors`` such answers for the
  same batch it is split in halves, and a half that fails again is split again at once, down to single
  events; a single event that still fails goes to the dead-letter file. So one event that trips a server bug
  costs about 2·log2(batch size) requests, and every other event of its batch is delivered.

The dead-letter file is JSON lines, one event a line: ``{"at", "event_id", "status", "reason", "server_body",
"event"}`` — enough for an operator to see why and to replay it (the event is the JSON that was queued).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

SERVER_BODY_CHARS = 2_000  # of the server's answer kept per dead letter: the reason, not a whole HTML page
REMEMBERED_BATCHES = 1_000  # failure counts kept for this many batches (a device's queue, not unbounded)
IN_MEMORY_DEAD_LETTERS = 1_000

SKIP, SPLIT, DEAD_LETTER = "skip", "split", "dead_letter"


class QueuedEvent(Protocol):
    event_id: str
    body: bytes


@dataclass
class DeliveryStats:
    """Counts since the client was created (``client.stats``)."""

    dead_lettered_batches: int = 0
    dead_lettered_events: int = 0
    batches_split: int = 0  # splits after repeated 5xx (a 413 split is a size matter, not counted here)
    server_errors: int = 0  # 5xx answers that were not retried in place


class DeadLetterBox:
    """Appends dead letters to a JSON-lines file (fsync'd: they left the queue), or keeps the last ones in memory."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self.recent: deque[dict[str, Any]] = deque(maxlen=IN_MEMORY_DEAD_LETTERS)
        self._lock = Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def put(self, *, at: datetime, events: Sequence[QueuedEvent], status: int, reason: str, server_body: str) -> None:
        letters = [
            {
                "at": at.isoformat(),
                "event_id": item.event_id,
                "status": status,
                "reason": reason,
                "server_body": server_body[:SERVER_BODY_CHARS],
                "event": _event(item.body),
            }
            for item in events
        ]
        with self._lock:
            self.recent.extend(letters)
            if self.path is None:
                return
            lines = "".join(json.dumps(letter, ensure_ascii=False) + "\n" for letter in letters)
            with open(self.path, "a", encoding="utf-8") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())


def _event(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class PoisonControl:
    """Decides, per failed batch, whether to skip it for now, split it, or dead-letter it; counts what it did."""

    def __init__(self, *, dead_letters: DeadLetterBox, max_server_errors: int, clock: Callable[[], datetime]) -> None:
        if max_server_errors < 1:
            raise ValueError(f"max_server_errors must be >= 1, got {max_server_errors}")
        self.dead_letters = dead_letters
        self.max_server_errors = max_server_errors
        self.stats = DeliveryStats()
        self._clock = clock
        self._failures: OrderedDict[tuple[str, ...], int] = OrderedDict()
        self._suspects: set[tuple[str, ...]] = set()  # halves of a split batch: split again on their first 5xx

    def delivered(self, batch: Sequence[QueuedEvent]) -> None:
        key = _key(batch)
        self._failures.pop(key, None)
        self._suspects.discard(key)

    def bad_request(self, batch: Sequence[QueuedEvent], status: int, server_body: str) -> None:
        self._dead_letter(batch, status, f"HTTP {status}: the server cannot read this batch", server_body)

    def server_error(self, batch: Sequence[QueuedEvent], status: int, server_body: str) -> str:
        """SKIP (keep it queued, go on), SPLIT (try the halves now) or DEAD_LETTER (done with it)."""
        self.stats.server_errors += 1
        key = _key(batch)
        failures = self._failures.pop(key, 0) + 1
        if key not in self._suspects and failures < self.max_server_errors:
            self._failures[key] = failures
            while len(self._failures) > REMEMBERED_BATCHES:
                self._failures.popitem(last=False)
            return SKIP
        self._failures[key] = failures  # kept: if the flush stops mid-split, the next one splits at once
        self._suspects.discard(key)
        if len(batch) == 1:
            self._failures.pop(key, None)
            self._dead_letter(batch, status, f"HTTP {status} {failures} times for this event alone", server_body)
            return DEAD_LETTER
        middle = len(batch) // 2
        self._suspects.update({_key(batch[:middle]), _key(batch[middle:])})
        self.stats.batches_split += 1
        return SPLIT

    def _dead_letter(self, batch: Sequence[QueuedEvent], status: int, reason: str, server_body: str) -> None:
        self.dead_letters.put(at=self._clock(), events=batch, status=status, reason=reason, server_body=server_body)
        self.stats.dead_lettered_batches += 1
        self.stats.dead_lettered_events += len(batch)


def _key(batch: Sequence[QueuedEvent]) -> tuple[str, ...]:
    return tuple(item.event_id for item in batch)
