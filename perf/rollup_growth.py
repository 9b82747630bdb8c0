"""An hour's recompute as its batches accumulate, with and without partial compaction, in one run on one database.

    .venv/bin/python perf/rollup_growth.py [--steps 6] [--batches 150] [--size 50] [--devices 30] [--server ...]

Creates a throwaway PostgreSQL database (ep_rollup_growth_<hex>), migrates it and seeds ingest_bench's catalog. Each
step ingests, in process with rollups deferred, `--batches` batches of `--size` events (ingest_bench's session and
crash templates, from `--devices` devices) into each of two past hours, then recomputes both as the queued rollup task
does: one hour with compaction off (every batch's partials re-read at every recompute, as before
telemetry/rollups/compaction.py), the other with it on. Prints per step the batches each hour holds, its partial rows
and the CPU of its recompute (this process plus the database backend), then the last step's cost over the first for
each: a recompute that follows the hour's devices stays flat, one that follows its batches grows with them. Steps
alternate between the two hours, so both see the same machine. Drops the database at the end.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeportal_client.events import uuid7  # noqa: E402
from perf.ingest_bench import DEVICE_MODELS, _templates  # noqa: E402
from perf.ingest_cpu import on_throwaway_database  # noqa: E402
from perf.procstat import cpu_seconds  # noqa: E402


def hour_bodies(*, hour: datetime, count: int, size: int, devices: int, seed: int) -> list[bytes]:
    """gzip batches whose events all fall in `hour`, fresh ids; the same templates and devices for the same seed."""
    rng = random.Random(seed)
    sessions, crashes = _templates(rng, 120)
    encode, bodies = msgspec.json.Encoder().encode, []
    for _ in range(count):
        events = []
        for template in rng.choices(sessions, k=size - 1):
            at = hour + timedelta(seconds=rng.uniform(0, 3590))
            events.append(
                {**template, "event_id": str(uuid7()), "session_id": str(uuid7()), "started_at": at.isoformat()}
            )
        crashed = events[rng.randrange(len(events))]
        events.append({**rng.choice(crashes), "event_id": str(uuid7()), "session_id": crashed["session_id"],
                       "occurred_at": crashed["started_at"]})  # fmt: skip
        device = rng.randrange(devices)
        body = {
            "device": {"uid": f"growth-{device:04d}", "model": DEVICE_MODELS[device % len(DEVICE_MODELS)],
                       "os_version": "Android 15", "app_version": "3.2.1", "firmware": "AP4A"},
            "sent_at": datetime.now(UTC).isoformat(),
            "events": events,
        }  # fmt: skip
        bodies.append(gzip.compress(encode(body), compresslevel=1))
    return bodies


def run(args: argparse.Namespace, raw_key: str) -> None:
    from django.db import connection
    from django.utils import timezone

    from core.models import ApiKey
    from telemetry.ingest.service import session_batch_ingest
    from telemetry.kpi.buckets import hour_floor
    from telemetry.models import HourlySessionPartial
    from telemetry.rollups import hourly
    from telemetry.rollups.compute import rollup_hours_compute
    from telemetry.tasks import rollups_deferred

    api_key = ApiKey.objects.get(prefix=raw_key.split("_")[1])
    compact = hourly.hour_partials_compact
    current = hour_floor(timezone.now())
    hours = {"off": current - timedelta(hours=3), "on": current - timedelta(hours=2)}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    # Warm-up on an hour of its own: imports, prepared statements, the catalog's caches.
    warm = current - timedelta(hours=4)
    with rollups_deferred():
        for body in hour_bodies(hour=warm, count=5, size=args.size, devices=args.devices, seed=0):
            session_batch_ingest(api_key=api_key, body=body, content_encoding="gzip", received_at=timezone.now())
    rollup_hours_compute(hours=[warm], only_dirty=True)
    costs: dict[str, list[float]] = {"off": [], "on": []}
    print(f"{'step':>4} {'batches':>8} | {'partial rows':>12} {'recompute ms':>12} (off) | "
          f"{'partial rows':>12} {'recompute ms':>12} (on)", flush=True)  # fmt: skip
    for step in range(1, args.steps + 1):
        line = f"{step:4d} {step * args.batches:8,d} |"
        for mode, hour in hours.items():
            bodies = hour_bodies(hour=hour, count=args.batches, size=args.size, devices=args.devices, seed=step)
            with rollups_deferred():
                for body in bodies:
                    result = session_batch_ingest(
                        api_key=api_key, body=body, content_encoding="gzip", received_at=timezone.now()
                    )
                    assert not result.rejected, result.rejected[:3]
            hourly.hour_partials_compact = compact if mode == "on" else (lambda hour: 0)
            began, db_began = time.process_time(), cpu_seconds(backend)
            rollup_hours_compute(hours=[hour], only_dirty=True)  # what the queued task runs
            spent = (time.process_time() - began + cpu_seconds(backend) - db_began) * 1e3
            hourly.hour_partials_compact = compact
            costs[mode].append(spent)
            rows = HourlySessionPartial.objects.filter(bucket_start=hour).count()
            line += f" {rows:12,d} {spent:12.1f}      |"
        print(line.rstrip("|"), flush=True)
    print(f"\nlast step ÷ first, {args.devices} devices, {args.size}-event batches; load avg {os.getloadavg()[0]:.2f}")
    for mode, spent in costs.items():
        print(f"  compaction {mode:3}: {spent[-1] / spent[0]:5.2f}×  ({spent[0]:.1f} → {spent[-1]:.1f} ms)")
    print(f"  off ÷ on at the last step: {costs['off'][-1] / costs['on'][-1]:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batches", type=int, default=150, help="batches per step into each hour")
    parser.add_argument("--size", type=int, default=50, help="events per batch (a device's few minutes)")
    parser.add_argument("--devices", type=int, default=30)
    args = parser.parse_args()
    on_throwaway_database(server=args.server, prefix="ep_rollup_growth", run=lambda raw_key: run(args, raw_key))


if __name__ == "__main__":
    main()
