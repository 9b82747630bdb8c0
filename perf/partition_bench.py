"""Ingest into an empty database against one already holding many raw sessions (issue 20 item 2), same rows.

    .venv/bin/python perf/partition_bench.py [--prefill 50000000] [--batches 40] [--rounds 3] [--layouts partitioned,plain]

For each layout, two throwaway PostgreSQL databases are migrated and seeded alike; one of them is pre-filled with
`--prefill` sessions spread over the retention window (30 days), written by generate_series straight into the
raw table (its day partitions, with their event keys; `plain`: the pre-0012 layout, one table with its unique
event_id index, kept plain the way migration 0012 leaves a table that holds rows). Then each round ingests the
same 1,000-event batches (SDK-built, UUIDv7 ids, 2 % crashes; perf/ingest_bench.batches_build) into both, through
the ingest service in one process (no HTTP: the database side is what history can slow down), the empty database
first in odd rounds, second in even ones. Prints events/s per database and the ratio full ÷ empty (median of rounds).

Raw SQL here (S608) uses fixed table names only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perf.ingest_bench import DEVICE_MODELS, SEED, batches_build  # noqa: E402

MEASURE = """
import gzip, json, sys, time
from datetime import UTC, datetime
from core.models import ApiKey
from telemetry.ingest.service import session_batch_ingest
key = ApiKey.objects.get(name='bench')
bodies = [bytes.fromhex(line) for line in open(sys.argv[1])]
for body in bodies[:2]:  # warm-up, not timed: connection, prepared statements, catalog versions
    session_batch_ingest(api_key=key, body=body, content_encoding='gzip', received_at=datetime.now(UTC))
started, accepted = time.perf_counter(), 0
for body in bodies[2:]:
    accepted += session_batch_ingest(api_key=key, body=body, content_encoding='gzip',
                                     received_at=datetime.now(UTC)).accepted
print(json.dumps({'events': accepted, 'seconds': time.perf_counter() - started}))
"""

# Sessions spread evenly over the 30 days before `end` on 20,000 devices, UUIDv7-shaped event ids of their start time.
PREFILL = """
INSERT INTO telemetry_inferencesession (event_id, device_id, session_id, device_model_id, model_version_id,
    runtime_version_id, delegate_id, app_version, os_version, started_at, received_at, clock_offset_s, clock_flag,
    duration_s, inferences, errors, latency_histogram, accelerated_fraction, fallback_ops, peak_rss_mb,
    thermal_state, has_crash, in_partial)
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7' || substr(md5(n::text), 1, 19))::uuid,
    d.id, md5(n::text || 's'), d.device_model_id, mv.id, rv.id, dl.id, '3.2.1', 'Android 15', t, t, 0, 'ok',
    600, 400, 0, '{"gamma": 1.0202020202020203, "counts": {"126": 300, "127": 100}, "zero_count": 0}'::jsonb,
    0.97, '[]'::jsonb, 210, 'nominal', false, true
FROM generate_series(%(first)s::bigint, %(last)s::bigint) n
CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - interval '30 days' + (n::float / %(total)s) * interval '30 days'
                    - interval '2 hours' AS t) times
JOIN telemetry_device d ON d.id = %(device_base)s + (n %% %(devices)s)
CROSS JOIN (SELECT min(id) AS id FROM compat_modelversion) mv
CROSS JOIN (SELECT min(id) AS id FROM compat_runtimeversion) rv
CROSS JOIN (SELECT min(id) AS id FROM compat_delegate) dl
"""
KEYS = """INSERT INTO telemetry_sessioneventkey (event_id, day)
SELECT event_id, (started_at AT TIME ZONE 'UTC')::date FROM telemetry_inferencesession"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--prefill", type=int, default=50_000_000, help="sessions in the full database")
    parser.add_argument("--batches", type=int, default=40, help="1,000-event batches per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layouts", default="partitioned", help="partitioned and/or plain (comma-separated)")
    parser.add_argument(
        "--until",
        choices=("now", "today"),
        default="now",
        help="the prefill ends now (today's partition holds its day's share, as a live fleet's does) "
        "or at 00:00 UTC today (history only: the partition being written starts empty in both)",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def database_make(*, server: str, layout: str, env: dict, made: list[str]) -> tuple[str, dict]:
    name = f"ep_partition_bench_{layout}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    made.append(name)
    env = {**env, "DATABASE_URL": f"{server}/{name}"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    # Migration 0012 leaves a table that holds rows as it is: the plain layout gets one row before it runs.
    if layout == "plain":
        listed = subprocess.run([*manage, "showmigrations", "--list"], env=env, cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        for app in [line for line in listed.splitlines() if line and not line[0].isspace()]:
            target = ["telemetry", "0011"] if app == "telemetry" else [app]
            subprocess.run([*manage, "migrate", *target, "-v", "0"], env=env, cwd=ROOT, check=True)
    else:
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
    seeded = subprocess.run([*manage, "shell", "-c", SEED.format(models=DEVICE_MODELS)], env=env, cwd=ROOT,
                            check=True, capture_output=True, text=True)  # fmt: skip
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO telemetry_device (uid, device_model_id, os_version, app_version, firmware, fleet, "
                     "first_seen_at, last_seen_at) SELECT 'prefill-' || n, (SELECT min(id) FROM compat_devicemodel), "
                     "'Android 15', '3.2.1', '', '', now(), now() FROM generate_series(1, 20000) n")  # fmt: skip
        if layout == "plain":
            conn.execute(PREFILL, {"first": 0, "last": 0, "total": 1, "devices": 20000,
                                   "device_base": _device_base(conn)})  # fmt: skip
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
    if layout == "partitioned":
        subprocess.run([*manage, "partition_raw_tables"], env=env, cwd=ROOT, check=True, capture_output=True)
    return name, {**env, "BENCH_KEY": seeded.stdout.strip().splitlines()[-1]}


def _device_base(conn) -> int:
    return conn.execute("SELECT min(id) FROM telemetry_device WHERE uid LIKE 'prefill-%%'").fetchone()[0] - 1


def prefill(*, env: dict, rows: int, layout: str, until: str) -> float:
    started = time.perf_counter()
    end = datetime.now(UTC)
    if until == "today":
        end = end.replace(hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        base, chunk = _device_base(conn), 1_000_000
        for first in range(1, rows + 1, chunk):
            conn.execute(PREFILL, {"first": first, "last": min(first + chunk - 1, rows), "total": rows,
                                   "devices": 20000, "device_base": base, "end": end})  # fmt: skip
            print(f"  prefilled {min(first + chunk - 1, rows):,} / {rows:,}", flush=True)
        if layout == "partitioned":
            conn.execute(KEYS)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def measure(*, env: dict, bodies_file: Path) -> dict:
    manage = [sys.executable, str(ROOT / "manage.py")]
    script = MEASURE.replace("sys.argv[1]", repr(str(bodies_file)))
    done = subprocess.run([*manage, "shell", "-c", script], env=env, cwd=ROOT, check=True, capture_output=True,
                          text=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    env = {**os.environ, "SECRET_KEY": "bench-" + "x" * 60, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1",
           "LOG_LEVEL": "WARNING", "CELERY_BROKER_URL": "", "REDIS_URL": "", "DB_CONN_MAX_AGE": "600"}  # fmt: skip
    made = []
    try:
        for layout in args.layouts.split(","):
            empty, empty_env = database_make(server=args.server, layout=layout, env=env, made=made)
            full, full_env = database_make(server=args.server, layout=layout, env=env, made=made)
            seconds = prefill(env=full_env, rows=args.prefill, layout=layout, until=args.until)
            print(f"{layout}: prefilled {args.prefill:,} sessions until {args.until} in {seconds:,.0f} s", flush=True)
            ratios = []
            for number in range(1, args.rounds + 1):
                bodies = batches_build(count=args.batches + 2, size=1000, crash_share=0.02, devices=500, seed=number)
                bodies_file = ROOT / "test-artifacts" / f"partition-bench-{os.getpid()}.hex"
                bodies_file.parent.mkdir(exist_ok=True)
                bodies_file.write_text("\n".join(body.hex() for body in bodies))
                order = [("empty", empty_env), ("full", full_env)]
                rates = {}
                for label, db_env in order if number % 2 else order[::-1]:
                    result = measure(env=db_env, bodies_file=bodies_file)
                    rates[label] = result["events"] / result["seconds"]
                ratios.append(rates["full"] / rates["empty"])
                print(f"{layout} round {number}: empty {rates['empty']:,.0f} events/s, full {rates['full']:,.0f} "
                      f"events/s, full/empty {ratios[-1]:.1%}", flush=True)  # fmt: skip
                bodies_file.unlink()
            print(f"{layout}: median full/empty over {args.rounds} rounds: {statistics.median(ratios):.1%} "
                  f"({args.prefill:,} sessions pre-filled until {args.until})", flush=True)  # fmt: skip
    finally:
        if not args.keep_db:
            with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
                for name in made:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
