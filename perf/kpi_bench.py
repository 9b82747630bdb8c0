"""KPI reads from rollups vs raw rows, and rollup cost, on a simulated fleet in a throwaway PostgreSQL database.

    .venv/bin/python perf/kpi_bench.py [--devices 300] [--days 14] [--server postgres://postgres@127.0.0.1:5432]

1. Creates a throwaway database, migrates it, loads the compat demo catalog.
2. Posts a simulated fleet through the real HTTP stack (simulate_fleet's local WSGI server), then rolls it up:
   events/s over HTTP and seconds per rolled-up hour.
3. Times (median of 5) kpis_get over 1 day / 7 days / the whole range, a breakdown by device model, a daily and
   an hourly time series — and the same KPIs computed from raw rows (counts in SQL + histograms merged in Python,
   what a selector without rollups would do). Prints queries per call and checks rollup == raw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_ms(fn, runs: int = 5) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = fn()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=300)
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="Keep the database (its name is printed)")
    args = parser.parse_args()
    name = f"ep_kpi_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    os.environ.update(
        DATABASE_URL=f"{args.server}/{name}", DEBUG="1", DJANGO_SETTINGS_MODULE="edgeportal.settings",
        INGEST_RATE="100000/min",
    )  # fmt: skip
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks in process; the simulator defers rollups to one pass
    try:
        run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(f"{args.server}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")


def run(args) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call_command("migrate", verbosity=0)
    from compat import demo as compat_demo
    from core.progress import no_progress
    from telemetry.demo import fleet_simulate
    from telemetry.kpi.kpis import Kpis
    from telemetry.kpi.selectors import kpi_breakdown, kpi_timeseries, kpis_get
    from telemetry.kpi.totals import Totals
    from telemetry.models import DailyRollup, HourlyRollup, InferenceSession

    compat_demo.step(size="full", stdout=open(os.devnull, "w"), progress=no_progress)
    report = fleet_simulate(devices=args.devices, days=args.days, seed=11)
    plan = report.plan
    events = report.accepted
    print(f"fleet: {report.summary()}")
    print(f"HTTP ingest (1 client, wsgiref, in process): {events / report.post_seconds:,.0f} events/s")
    print(f"rollup: {report.rollup_hours} hours in {report.rollup_seconds:.1f} s = "
          f"{1000 * report.rollup_seconds / max(1, report.rollup_hours):.0f} ms/hour "
          f"({InferenceSession.objects.count():,} raw sessions -> {HourlyRollup.objects.count():,} hourly, "
          f"{DailyRollup.objects.count():,} daily rows)")  # fmt: skip

    def raw_kpis(start, end) -> Kpis:
        totals = Totals()
        rows = InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end).values_list(
            "inferences", "errors", "has_crash", "accelerated_fraction", "latency_histogram", "device_id"
        )
        devices = set()
        for inferences, errors, crashed, accelerated, histogram, device_id in rows.iterator(chunk_size=5000):
            totals.sessions += 1
            totals.crashed_sessions += crashed
            totals.inferences += inferences
            totals.errors += errors
            if accelerated is not None:
                totals.accelerated_weighted_sum += accelerated * inferences
                totals.accelerated_weight += inferences
            totals.add_histogram(histogram)
            devices.add(device_id)
        totals.devices = len(devices)
        return Kpis.from_totals(totals, start=start, end=end)

    end = plan.end
    print(f"\n{'read':44} {'ms':>8} {'queries':>8}")
    for label, start in (("1 day", end - timedelta(days=1)), ("7 days", end - timedelta(days=7)),
                         ("whole range", plan.start + timedelta(hours=5))):  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            kpis_get(start=start, end=end, filters={})
        ms, rolled = _median_ms(lambda start=start: kpis_get(start=start, end=end, filters={}))
        raw_ms, raw = _median_ms(lambda start=start: raw_kpis(start, end), runs=3)
        same = (rolled.sessions, rolled.inferences, rolled.p95_latency_ms, rolled.devices) == (
            raw.sessions, raw.inferences, raw.p95_latency_ms, raw.devices)  # fmt: skip
        print(f"{'kpis_get ' + label:44} {ms:8.1f} {len(queries):8}")
        print(f"{'  same KPIs from raw rows ' + label:44} {raw_ms:8.1f}   (equal: {same})")
    start = end - timedelta(days=7)
    for label, fn in (
        ("kpi_breakdown 7 days by device_model", lambda: kpi_breakdown(start=start, end=end, dimension="device_model")),
        ("kpi_breakdown 7 days by cell", lambda: kpi_breakdown(start=start, end=end, dimension="cell")),
        ("kpi_timeseries 7 days by day", lambda: kpi_timeseries(start=start, end=end, bucket="day")),
        ("kpi_timeseries 2 days by hour", lambda: kpi_timeseries(start=end - timedelta(days=2), end=end)),
    ):
        with CaptureQueriesContext(connection) as queries:
            fn()
        ms, _ = _median_ms(fn)
        print(f"{label:44} {ms:8.1f} {len(queries):8}")


if __name__ == "__main__":
    main()
