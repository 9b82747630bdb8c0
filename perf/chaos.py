"""Bounded chaos test: exactly-once storage and honest answers through killed and restarted dependencies.

    .venv/bin/python perf/chaos.py [--seconds 40] [--clients 4]

Loopback only, on its own throwaway services (the PostgreSQL on 5432 and Redis on 6379 are never touched): a private
PostgreSQL cluster (initdb into a temp dir, trust auth, a free port), a private redis-server, gunicorn (2 workers)
and one Celery worker. Client threads drive sessions and crashes through the SDK (edgeportal_client) for --seconds
while faults are injected, each logged with its time:
  gunicorn worker   SIGKILL of one worker process (the master respawns it)
  celery worker     SIGKILL of the worker's process group; a new worker starts 3 s later
  postgresql        pg_ctl restart -m fast
  redis             stopped for 5 s, then started again (the web tier must answer 202 or a 503 with Retry-After)
Then the clients flush until every event is acknowledged, the queue drains, the worker stops, the rollup sweep
runs once as beat would (rollup_hours_close), and a table is printed. Exits 1 unless sent = acknowledged = stored,
0 lost, 0 duplicated, no 500 and the hourly rollups' sessions and crashes equal the raw counts.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeportal_client import EdgePortalClient  # noqa: E402
from edgeportal_client.events import crash_event, session_event  # noqa: E402
from edgeportal_client.histogram import LatencyHistogram  # noqa: E402
from perf.chaos_stack import Stack, pg_bindir, wait_for  # noqa: E402

SEED = """
from compat.models import *
from core.services import api_key_create
DeviceModel.objects.create(slug='google-pixel-8', vendor='google', name='Pixel 8', os_family='android', tier=1)
m = MLModel.objects.create(slug='yolov8n', name='YOLOv8n')
ModelVersion.objects.create(ml_model=m, version='1.4.0')
rt = Runtime.objects.create(slug='tflite', name='TFLite')
RuntimeVersion.objects.create(runtime=rt, version='2.16.1')
Delegate.objects.create(runtime=rt, slug='gpu', name='GPU', kind='gpu')
key, raw = api_key_create(name='chaos', scopes=['ingest'])
print(key.pk, raw)
"""
ROLLUP_SWEEP = "from telemetry.rollups.compute import rollup_hours_close; print(len(rollup_hours_close().hours))"
STACK = {"model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite", "runtime_version": "2.16.1",
         "delegate": "gpu"}  # fmt: skip
HISTOGRAM = LatencyHistogram.from_samples([10.0 + (i % 20) * 0.25 for i in range(200)])
ZERO_LOSS = "CHAOS OK: sent = acknowledged = stored, 0 lost, 0 duplicated, no 500, rollups = raw"


class Ledger:
    """Every event id sent, every one the server acknowledged (accepted or duplicate), and every answer seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: set[str] = set()
        self.acknowledged: set[str] = set()
        self.rejected: set[str] = set()
        self.statuses: Counter[str] = Counter()
        self.errors_500: list[str] = []
        self.slowest_s = 0.0

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        """requests response hook: counts the status; on a 2xx, acknowledges the batch's events not rejected."""
        with self.lock:
            self.statuses[str(response.status_code)] += 1
            self.slowest_s = max(self.slowest_s, response.elapsed.total_seconds())
            if response.status_code >= 500 and response.status_code not in (502, 503, 504):
                self.errors_500.append(response.text[:300])
        if not 200 <= response.status_code < 300:
            return
        events = json.loads(gzip.decompress(response.request.body))["events"]
        rejected = {item.get("index") for item in response.json().get("rejected") or []}
        with self.lock:
            for index, event in enumerate(events):
                (self.rejected if index in rejected else self.acknowledged).add(event["event_id"])


def client_loop(*, base_url: str, api_key: str, slot: int, ledger: Ledger, stop: threading.Event) -> None:
    """One device: records 40 sessions and 2 crashes at a time and flushes, until stopped, then flushes dry."""
    session = requests.Session()
    session.hooks["response"].append(ledger.hook)
    device = {"uid": f"chaos-{slot}", "model": "google-pixel-8", "os_version": "Android 15", "app_version": "3.2.1"}
    client = EdgePortalClient(base_url, api_key, device, batch_size=200, timeout=10, max_retries=8,
                              backoff_base=0.2, backoff_cap=5, session=session)  # fmt: skip
    while not stop.is_set():
        now = datetime.now(UTC)
        for _ in range(40):
            session_id = uuid.uuid4().hex
            event = session_event(**STACK, session_id=session_id, started_at=now - timedelta(seconds=30),
                                  duration_s=30.0, inferences=200, errors=0, histogram=HISTOGRAM,
                                  accelerated_fraction=0.97)  # fmt: skip
            with ledger.lock:
                ledger.sent.add(client.record(event))
        for _ in range(2):
            event = crash_event(**STACK, session_id=session_id, occurred_at=now, kind="exception",
                                exception_type="ValueError", message="bad tensor", frames=[
                                    {"function": "run", "module": "app.detector", "offset": "app.py:9",
                                     "in_app": True}])  # fmt: skip
            with ledger.lock:
                ledger.sent.add(client.record(event))
        result = client.flush()
        if result.last_error:
            with ledger.lock:
                ledger.statuses[f"flush stopped: {result.last_error.split(':')[0][:40]}"] += 1
        time.sleep(0.05)
    deadline = time.monotonic() + 45
    while client.queued and time.monotonic() < deadline:
        if client.flush().remaining:
            time.sleep(0.5)


def network_error_counter(ledger: Ledger):
    """Connection errors never reach a response hook: count them where the client's session raises them."""
    original = requests.Session.send

    def send(self, request, **kwargs):
        try:
            return original(self, request, **kwargs)
        except requests.RequestException as error:
            with ledger.lock:
                ledger.statuses[f"network: {type(error).__name__}"] += 1
            raise

    requests.Session.send = send


def inject_faults(stack: Stack, *, seconds: float, started: float, faults: list, stop: threading.Event) -> None:
    def at(fraction: float) -> bool:
        return not stop.wait(max(0.0, started + seconds * fraction - time.monotonic()))

    def log(text: str) -> None:
        faults.append((time.monotonic() - started, text))
        print(f"[{time.monotonic() - started:6.1f} s] {text}", flush=True)

    if at(0.15):
        victim, busy = stack.busy_web_worker()
        os.kill(victim, signal.SIGKILL)
        log(f"SIGKILL gunicorn worker {victim} ({'caught running' if busy else 'idle'})")
    if at(0.3):
        stack.kill_worker()
        log("SIGKILL celery worker (process group)")
        time.sleep(3)
        stack.start_worker()
        log("celery worker started again")
    if at(0.5):
        log("pg_ctl restart -m fast: begin")
        stack.restart_postgres()
        log("pg_ctl restart -m fast: done")
    if at(0.7):
        stack.stop_redis()
        log("redis stopped")
        time.sleep(5)
        stack.start_redis()
        log("redis started again")
        stop.wait(3)
    supervise(stack, log)


def supervise(stack: Stack, log) -> None:
    """Restarts a Celery worker that exited by itself, as a process supervisor would, and logs it as a finding."""
    if stack.worker is not None and stack.worker.poll() is not None:
        log(f"FINDING: celery worker exited by itself (rc {stack.worker.returncode}); started again")
        stack.start_worker()


def database_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        rows = {}
        for name, table in (("sessions", "telemetry_inferencesession"), ("crashes", "telemetry_crashreport")):
            query = sql.SQL("SELECT count(*), count(DISTINCT event_id) FROM {}").format(sql.Identifier(table))
            rows[f"{name}_rows"], rows[f"{name}_distinct"] = conn.execute(query).fetchone()
        rows["rollup_sessions"], rows["rollup_crashes"] = conn.execute(
            "SELECT coalesce(sum(sessions), 0), coalesce(sum(crashes), 0) FROM telemetry_hourlyrollup"
        ).fetchone()
        stored = {str(r[0]) for r in conn.execute("SELECT event_id FROM telemetry_inferencesession")}
        stored |= {str(r[0]) for r in conn.execute("SELECT event_id FROM telemetry_crashreport")}
    return {**rows, "stored_ids": stored}


def report(ledger: Ledger, counts: dict, faults: list, elapsed: float, before_sweep: dict) -> bool:
    stored_ids = counts.pop("stored_ids")
    lost = len(ledger.sent - stored_ids)
    duplicated = (counts["sessions_rows"] - counts["sessions_distinct"]) + (
        counts["crashes_rows"] - counts["crashes_distinct"]
    )
    server_errors = {k: v for k, v in ledger.statuses.items() if k[:1] == "5"}
    lines = [
        ("events sent", len(ledger.sent)),
        ("acknowledged (accepted or duplicate)", len(ledger.acknowledged)),
        ("rejected by the server", len(ledger.rejected)),
        ("stored (distinct event_ids)", len(stored_ids)),
        ("lost (sent - stored)", lost),
        ("duplicated (rows - distinct)", duplicated),
        ("rollup sessions / raw sessions", f"{counts['rollup_sessions']} / {counts['sessions_rows']}"),
        ("rollup crashes / raw crashes", f"{counts['rollup_crashes']} / {counts['crashes_rows']}"),
        ("before the sweep: rollup sessions/crashes", f"{before_sweep['sessions']} / {before_sweep['crashes']}"),
        ("slowest answer", f"{ledger.slowest_s:.1f} s"),
        ("5xx answers", dict(sorted(server_errors.items())) or 0),
        ("500 answers", ledger.statuses.get("500", 0)),
    ]
    print(f"\nchaos run: {elapsed:.0f} s wall")
    for label, value in lines:
        print(f"  {label:<38} {value}")
    print("  answers and client events seen:")
    for label, count in sorted(ledger.statuses.items()):
        print(f"    {label:<36} {count}")
    print("  faults:")
    for at, text in faults:
        print(f"    {at:6.1f} s  {text}")
    for body in ledger.errors_500[:3]:
        print(f"  a 5xx body: {body}")
    ok = (
        lost == 0
        and duplicated == 0
        and ledger.acknowledged == ledger.sent
        and not ledger.errors_500
        and counts["rollup_sessions"] == counts["sessions_rows"]
        and counts["rollup_crashes"] == counts["crashes_rows"]
        and len([text for _, text in faults if not text.startswith("FINDING")]) >= 7
    )
    print(ZERO_LOSS if ok else "CHAOS FAILED")
    return ok


def run(args, stack: Stack) -> bool:
    begun = time.monotonic()
    stack.start_postgres()
    stack.start_redis()
    stack.manage("migrate", "-v", "0")
    raw_key = stack.manage("shell", "-c", SEED).split()[-1]
    stack.start_web()
    stack.start_worker()
    base_url = f"http://127.0.0.1:{stack.web_port}"
    ledger, faults, stop = Ledger(), [], threading.Event()
    network_error_counter(ledger)
    threads = [threading.Thread(target=client_loop, kwargs=dict(base_url=base_url, api_key=raw_key, slot=slot,
                                ledger=ledger, stop=stop)) for slot in range(args.clients)]  # fmt: skip
    started = time.monotonic()
    for thread in threads:
        thread.start()
    chaos = threading.Thread(target=inject_faults, args=(stack,), kwargs=dict(seconds=args.seconds, started=started,
                             faults=faults, stop=stop))  # fmt: skip
    chaos.start()
    try:
        while time.monotonic() < started + args.seconds:
            time.sleep(0.2)
    finally:
        stop.set()
        chaos.join()
        for thread in threads:
            thread.join()
    supervise(stack, lambda text: faults.append((time.monotonic() - started, text)))
    print(f"[{time.monotonic() - started:6.1f} s] load stopped, clients flushed", flush=True)
    broker = redis.Redis.from_url(stack.redis_url)
    with contextlib.suppress(SystemExit):
        wait_for(lambda: broker.llen(stack.queue) == 0, seconds=30, what="celery queue drained")
    stack.stop_worker()
    before = database_counts(stack.db_url)
    before_sweep = {"sessions": before["rollup_sessions"], "crashes": before["rollup_crashes"]}
    swept = stack.manage("shell", "-c", ROLLUP_SWEEP).split()[-1]
    print(f"[{time.monotonic() - started:6.1f} s] queue drained, worker stopped, rollup sweep: {swept} hours")
    return report(ledger, database_counts(stack.db_url), faults, time.monotonic() - begun, before_sweep)


def interrupted(signum, frame) -> None:
    """SIGTERM (a CI timeout) cleans up as Ctrl-C does."""
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if pg_bindir() is None or shutil.which("redis-server") is None:
        print("chaos: needs PostgreSQL server binaries (initdb, pg_ctl) and redis-server", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="edgeportal-chaos-"))
    log = open(workdir.parent / f"{workdir.name}.log", "w")
    stack = Stack(workdir, log)
    signal.signal(signal.SIGTERM, interrupted)
    passed = False
    try:
        passed = run(args, stack)
        return 0 if passed else 1
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        log.close()
        if passed:  # the services' logs are kept only when there is something to look into
            Path(log.name).unlink(missing_ok=True)
        else:
            print(f"chaos: service logs in {log.name}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
