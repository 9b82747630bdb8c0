"""Web-process CPU per ingested event, in process: session_batch_ingest on ingest_bench's batches, no HTTP.

    .venv/bin/python perf/ingest_cpu.py [--batches 40] [--size 1000] [--repeat 3] [--view] [--profile [--sort cumulative]]
        [--statements] [--server postgres://...]

Creates a throwaway PostgreSQL database (ep_wti_<hex>, --db-prefix), migrates it, seeds ingest_bench's catalog, then ingests
`--batches` gzip batches built exactly like perf/ingest_bench.py's (fresh event ids every round) and prints, per
stored event: this process's CPU (time.process_time, so other load on the shared machine does not count), the part
of it spent inside bulk.rows_insert_skipping_stored (COPY text formatting and the COPY itself) and the database backend's
CPU (from /proc, when the server is local). Best of `--repeat` rounds. `--view` posts through the DRF view with
Django's test client instead (adds auth, throttle, middleware and the JSON response). `--statements` splits the
backend's CPU of the last round by statement (/proc/<backend>/schedstat around each statement and COPY; what is
left is COMMIT: the deferred foreign-key checks). Drops the database at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perf.ingest_bench import DEVICE_MODELS, SEED, batches_build  # noqa: E402
from perf.procstat import cpu_seconds  # noqa: E402


def _setup(db_url: str) -> str:
    """Points Django at the throwaway database, migrates and seeds it; the raw `ingest` key."""
    os.environ.update(DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE="edgeportal.settings", DEBUG="0",
                      SECRET_KEY="bench-" + "x" * 60, ALLOWED_HOSTS="testserver", SECURE_SSL_REDIRECT="0",
                      STATIC_MANIFEST="0", LOG_LEVEL="WARNING", INGEST_RATE="1000000/min")  # fmt: skip
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    lines = []
    exec(SEED.format(models=DEVICE_MODELS).replace("print(", "lines.append("), {"lines": lines})  # noqa: S102
    import edgeportal.wsgi  # noqa: F401 -- the process as gunicorn loads it (its garbage-collector settings too)

    return lines[-1]


def _timed_rows_insert(spent: list[float]):
    """Wraps bulk.rows_insert_skipping_stored (as services imported it) to add its CPU time to spent[0]."""
    from telemetry.ingest import service as services

    original = services.rows_insert_skipping_stored

    def timed(**kwargs):
        began = time.process_time()
        try:
            return original(**kwargs)
        finally:
            spent[0] += time.process_time() - began

    services.rows_insert_skipping_stored = timed


def _backend_ns(pid: int) -> int:
    """CPU nanoseconds a (local) database backend has run so far."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


class StatementMeter:
    """Database backend CPU by statement text while `on`: Django's execute wrapper, and the ingest's COPYs (psycopg's
    own cursor.copy, which the wrapper does not see)."""

    def __init__(self) -> None:
        self.pid, self.on = 0, False
        self.spent: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def _timed(self, text: str, call):
        if not self.on:
            return call()
        began = _backend_ns(self.pid)
        try:
            return call()
        finally:
            spent = self.spent[" ".join(text.split())[:100]]
            spent[0] += _backend_ns(self.pid) - began
            spent[1] += 1

    def execute(self, execute, sql, params, many, context):
        return self._timed(sql, lambda: execute(sql, params, many, context))

    def install(self, stack: ExitStack) -> None:
        from django.db import connection

        from telemetry.ingest import bulk, raw_insert

        original = bulk._copy

        def copy(statement: str, payload: str) -> None:
            return self._timed(statement, lambda: original(statement, payload))

        bulk._copy = raw_insert._copy = copy
        stack.enter_context(connection.execute_wrapper(self.execute))

    def report(self, *, stored: int, db_ns: float) -> None:
        print(f"\ndatabase CPU by statement, last round ({stored:,} stored):")
        for text, (ns, count) in sorted(self.spent.items(), key=lambda item: -item[1][0]):
            print(f"{ns / stored / 1e3:7.2f} µs/event  {count:4d}×  {text}")
        covered = sum(ns for ns, _ in self.spent.values())
        print(
            f"{(db_ns - covered) / stored / 1e3:7.2f} µs/event  outside statements: COMMIT (deferred foreign-key checks)"
        )


def run(args: argparse.Namespace, raw_key: str) -> None:
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from core.models import ApiKey
    from telemetry.ingest.service import session_batch_ingest
    from telemetry.tasks import rollups_deferred

    api_key = ApiKey.objects.get(prefix=raw_key.split("_")[1])  # the raw key is ep_<prefix>_<secret>
    spent = [0.0]
    _timed_rows_insert(spent)
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}", "HTTP_CONTENT_ENCODING": "gzip"}

    def ingest(body: bytes) -> int:
        if args.view:
            response = client.generic("POST", "/api/v1/ingest/", body, content_type="application/json", **headers)
            assert response.status_code == 202, response.content
            answer = response.json()
            return answer["accepted"]
        result = session_batch_ingest(api_key=api_key, body=body, content_encoding="gzip", received_at=timezone.now())
        assert not result.rejected, result.rejected[:3]
        return result.accepted

    print(f"building {args.batches * (args.repeat + 1)} batches of {args.size} events …", flush=True)
    bodies = batches_build(count=args.batches * (args.repeat + 1), size=args.size, crash_share=0.02, devices=200)
    statements, stack = StatementMeter(), ExitStack()
    if args.statements:
        statements.install(stack)
    with stack, rollups_deferred():  # rollups belong to the Celery worker, not to the web process
        for body in bodies[: args.batches // 4 or 1]:  # warm up: imports, staging tables, catalog versions
            ingest(body)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (backend,) = cursor.fetchone()
        statements.pid = backend
        rounds = []
        for number in range(1, args.repeat + 1):
            batch = bodies[number * args.batches : (number + 1) * args.batches]
            spent[0], stored = 0.0, 0
            profiler = cProfile.Profile(time.process_time) if args.profile and number == args.repeat else None
            statements.on = args.statements and number == args.repeat
            cpu_before, db_before = time.process_time(), cpu_seconds(backend)
            db_ns_before = _backend_ns(backend) if args.statements else 0
            if profiler:
                profiler.enable()
            for body in batch:
                stored += ingest(body)
            if profiler:
                profiler.disable()
            cpu = time.process_time() - cpu_before
            db = cpu_seconds(backend) - db_before
            db_ns = _backend_ns(backend) - db_ns_before if args.statements else 0
            rounds.append((cpu / stored * 1e6, spent[0] / stored * 1e6, db / stored * 1e6, stored))
            print(f"round {number}: web {rounds[-1][0]:6.1f} µs/event (rows_insert_skipping_stored {rounds[-1][1]:5.1f}), "
                  f"database {rounds[-1][2]:5.1f} µs/event, {stored:,} stored", flush=True)  # fmt: skip
    web, insert, db, stored = min(rounds)
    mode = "view (test client)" if args.view else "session_batch_ingest"
    print(f"\n{mode}, {args.batches} × {args.size}-event batches, best of {args.repeat}; load avg "
          f"{os.getloadavg()[0]:.2f}\nweb CPU {web:.1f} µs/event, of which rows_insert_skipping_stored {insert:.1f}; "
          f"database backend {db:.1f} µs/event")  # fmt: skip
    if args.statements:
        statements.report(stored=stored, db_ns=db_ns)
    if profiler:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--view", action="store_true", help="post through the DRF view (test client)")
    parser.add_argument("--db-prefix", default="ep_wti", help="name prefix of the throwaway database")
    parser.add_argument("--statements", action="store_true", help="database CPU of the last round by statement")
    parser.add_argument("--profile", action="store_true", help="cProfile the last round: its top 30 (--sort)")
    parser.add_argument(
        "--sort",
        default="tottime",
        choices=["tottime", "cumulative"],
        help="--profile's order: own time, or time including callees (which phase costs what)",
    )
    args = parser.parse_args()
    on_throwaway_database(server=args.server, prefix=args.db_prefix, run=lambda raw_key: run(args, raw_key))


def on_throwaway_database(*, server: str, prefix: str, run: Callable[[str], None]) -> None:
    """Creates <prefix>_<hex> on `server`, migrates and seeds it (Django pointed at it), calls run(the raw `ingest`
    key) and drops the database, however run ends."""
    db_name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = server.rstrip("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    try:
        run(_setup(f"{server}/{db_name}"))
    finally:
        from django.apps import apps

        if apps.ready:
            from django.db import connections

            connections.close_all()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
