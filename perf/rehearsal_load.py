"""The device load of perf/scale_rehearsal.py: one process per device, the real SDK with its retries, a ledger each.

A process (not a thread) per device so that building, encoding and gzipping batches is not serialized on one GIL:
the load generator must not be what caps the one-node versus two-node comparison. Each process counts the events
the server accepted into a shared counter (the parent reads it at phase boundaries for events/s) and, when told
to stop, flushes until its queue is empty and writes its ledger (every event id sent, acknowledged, rejected, and
every answer seen) to a JSON file the parent merges.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeportal_client import EdgePortalClient  # noqa: E402
from edgeportal_client.events import crash_event, session_event  # noqa: E402
from edgeportal_client.histogram import LatencyHistogram  # noqa: E402

STACK = {"model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite", "runtime_version": "2.16.1",
         "delegate": "gpu"}  # fmt: skip
HISTOGRAM = LatencyHistogram.from_samples([10.0 + (i % 20) * 0.25 for i in range(200)])
FRAMES = [{"function": "run", "module": "app.detector", "offset": "app.py:9", "in_app": True}]
# The SDK writes each event compactly with event_id as a top-level key; frames and sessions carry no other one.
EVENT_ID = re.compile(rb'"event_id":"([0-9a-f-]{36})"')
FLUSH_DRY_S = 60


class Ledger:
    """One process's accounting: ids sent / acknowledged (accepted or duplicate) / rejected, answers, 5xx bodies."""

    def __init__(self, accepted_counter) -> None:
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.acknowledged: set[str] = set()
        self.rejected: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.errors_500: list[str] = []
        self.slowest_s = 0.0
        self.accepted_counter = accepted_counter

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        """requests response hook: counts the status; on a 2xx, acknowledges the batch's events not rejected."""
        status = response.status_code
        with self.lock:
            self.statuses[str(status)] += 1
            self.slowest_s = max(self.slowest_s, response.elapsed.total_seconds())
            if status >= 500 and status not in (502, 503, 504):
                self.errors_500.append(response.text[:300])
        if not 200 <= status < 300:
            return
        ids = [match.decode() for match in EVENT_ID.findall(gzip.decompress(response.request.body))]
        body = response.json()
        rejected = {item.get("index") for item in body.get("rejected") or []}
        with self.lock:
            for index, event_id in enumerate(ids):
                (self.rejected if index in rejected else self.acknowledged).add(event_id)
        with self.accepted_counter.get_lock():
            self.accepted_counter.value += body.get("accepted", 0)

    def count_network_errors(self) -> None:
        """Connection errors never reach a response hook: count them where the client's session raises them."""
        original = requests.Session.send
        ledger = self

        def send(session, request, **kwargs):
            try:
                return original(session, request, **kwargs)
            except requests.RequestException as error:
                with ledger.lock:
                    ledger.statuses[f"network: {type(error).__name__}"] += 1
                raise

        requests.Session.send = send

    def as_json(self, dead_letters: int) -> dict:
        return {"sent": self.sent, "acknowledged": sorted(self.acknowledged), "rejected": sorted(self.rejected),
                "statuses": dict(self.statuses), "errors_500": self.errors_500[:5], "slowest_s": self.slowest_s,
                "dead_letters": dead_letters}  # fmt: skip


def record_batch(client: EdgePortalClient, ledger: Ledger, *, events: int) -> None:
    """`events` events of one device: sessions, and one crash in twenty (each in the session before it)."""
    now = datetime.now(UTC)
    crashes = max(1, events // 20)
    for _ in range(events - crashes):
        session_id = uuid.uuid4().hex
        event = session_event(**STACK, session_id=session_id, started_at=now - timedelta(seconds=30), duration_s=30.0,
                              inferences=200, errors=0, histogram=HISTOGRAM, accelerated_fraction=0.97)  # fmt: skip
        ledger.sent.append(client.record(event))
    for _ in range(crashes):
        event = crash_event(**STACK, session_id=session_id, occurred_at=now, kind="exception",
                            exception_type="ValueError", message="bad tensor", frames=FRAMES)  # fmt: skip
        ledger.sent.append(client.record(event))


def device_load(*, slot: int, base_url: str, api_key: str, batch: int, stop, accepted_counter, ledger_path: str):
    """One device posting `batch`-event batches through the SDK until `stop` is set, then flushing dry."""
    ledger = Ledger(accepted_counter)
    ledger.count_network_errors()
    session = requests.Session()
    session.hooks["response"].append(ledger.hook)
    device = {"uid": f"rehearsal-{slot}", "model": "google-pixel-8", "os_version": "Android 15", "app_version": "3.2.1"}
    client = EdgePortalClient(base_url, api_key, device, batch_size=batch, timeout=20, max_retries=10,
                              backoff_base=0.2, backoff_cap=5, session=session)  # fmt: skip
    while not stop.is_set():
        record_batch(client, ledger, events=batch)
        result = client.flush()
        if result.last_error:  # the retries ran out: the events stay queued for the next flush
            with ledger.lock:
                ledger.statuses[f"flush stopped: {result.last_error.split(':')[0][:40]}"] += 1
    deadline = time.monotonic() + FLUSH_DRY_S
    while client.queued and time.monotonic() < deadline:
        if client.flush().remaining:
            time.sleep(0.5)
    ledger.statuses["left queued at the end"] += client.queued
    Path(ledger_path).write_text(json.dumps(ledger.as_json(client.stats.dead_lettered_events)))
