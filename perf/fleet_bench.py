"""The fleet page at fleet scale: /fleet/ 30 days unfiltered and one cohort, each as a ratio to a logged-in
`GET /api/v1/me/` timed in the same run, with an optional profile of where the page's time goes.

Loads its fleet through perf/dashboard_bench.py (`--sessions N`, which also prints every dashboard), or measures the
fleet a previous run left there (`--reuse`). That loader writes no fallback rollups, so this script fills the missing
ones through the service the rollup run calls (`fallback_rollups_backfill`, one grouped scan per raw hour) before it
measures: the fleet page's CPU-fallback figures read them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ep_fleet \\
        .venv/bin/python perf/fleet_bench.py --sessions 1000000 [--profile]
    DATABASE_URL=... .venv/bin/python perf/fleet_bench.py --reuse --profile

The database is TRUNCATEd by a load (not by `--reuse`): point it at a scratch database.
"""

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_bench  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from compat.models import DeviceModel, MLModel, ModelVersion  # noqa: E402
from core.roles import roles_sync  # noqa: E402
from telemetry.fleet import fallback  # noqa: E402
from telemetry.kpi.scope import scope_parse  # noqa: E402
from telemetry.models import DailyFallbackRollup, HourlyFallbackRollup  # noqa: E402
from telemetry.rollups.fallback import fallback_rollups_backfill  # noqa: E402


def fallback_rollups_fill() -> None:
    started = time.perf_counter()
    done = fallback_rollups_backfill()
    with connection.cursor() as cursor:  # as a live database's autovacuum would have them: statistics, visibility map
        for table in (
            "telemetry_hourlyfallbackrollup",
            "telemetry_dailyfallbackrollup",
            "telemetry_dailyfallbackdevice",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  fallback rollups: {done} filled in {time.perf_counter() - started:.0f} s; "
          f"{HourlyFallbackRollup.objects.count():,} hourly, {DailyFallbackRollup.objects.count():,} daily rows")  # fmt: skip


def pages() -> dict[str, str]:
    """The pages measured, as perf/dashboard_bench.py names them (its cohort: device model 5, model 5's third version)."""
    model = MLModel.objects.order_by("id")[5 % dashboard_bench.MODELS]
    version = ModelVersion.objects.filter(ml_model=model).order_by("id")[2]
    device_model = DeviceModel.objects.order_by("id")[5]
    cohort = f"device_model={device_model.slug}&model={model.slug}&model_version={version.version}"
    return {
        "api me": "/api/v1/me/",
        "fleet 30d": "/fleet/?range=30d",
        "fleet 30d cohort": f"/fleet/?range=30d&{cohort}",
    }


def client_make() -> Client:
    user, _ = User.objects.get_or_create(username="bench-viewer")
    roles_sync()
    user.groups.add(*Group.objects.filter(name="viewer"))
    client = Client()
    client.force_login(user)
    return client


def measure(client: Client, urls: dict[str, str], repeat: int) -> None:
    """Median of `repeat` warm renders per page, interleaved (load swings hit every page alike), and its ratio; with
    the process's CPU time and the queries' time per render, less swayed than wall time by other work on the cores."""
    for url in urls.values():
        assert client.get(url, secure=True).status_code == 200, url  # warm
    timings: dict[str, list[tuple[float, float, float]]] = {name: [] for name in urls}
    queries: dict[str, tuple[int, int]] = {}  # (queries, of which on the raw session table)
    for _ in range(repeat):
        for name, url in urls.items():
            with CaptureQueriesContext(connection) as captured:
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get(url, secure=True)
                wall, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
            assert response.status_code == 200, (url, response.status_code)
            sql = sum(float(q["time"]) for q in captured.captured_queries) * 1000
            timings[name].append((wall, cpu, sql))
            raw = sum("telemetry_inferencesession" in q["sql"] for q in captured.captured_queries)
            queries[name] = (len(captured.captured_queries), raw)
    medians = {
        name: [statistics.median(column) for column in zip(*rows, strict=True)] for name, rows in timings.items()
    }
    trivial_wall, trivial_cpu = medians["api me"][0], medians["api me"][1]
    for name, (wall, cpu, sql) in medians.items():
        print(f"  {name:<18} median {wall:7.1f} ms  {queries[name][0]:3d} queries ({queries[name][1]} on raw sessions)"
              f"  {wall / trivial_wall:5.1f}x api me"
              f"  (python CPU {cpu:6.1f} ms, {cpu / trivial_cpu:5.1f}x; SQL {sql:6.1f} ms)")  # fmt: skip


def profile(client: Client, name: str, url: str, *, top: int = 25) -> None:
    """cProfile of five renders (cumulative time, project code first) and the page's five slowest queries."""
    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as captured:
        profiler.enable()
        for _ in range(5):
            client.get(url, secure=True)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(r"(telemetry|core|edgeportal|compat)/", top)
    print(f"\n== profile of {name} ({url}), 5 renders ==")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[-6000:])
    slowest = sorted(captured.captured_queries[: len(captured.captured_queries) // 5], key=lambda q: -float(q["time"]))
    print(f"  slowest queries of one render ({len(captured.captured_queries) // 5} in all):")
    for q in slowest[:5]:
        print(f"    {float(q['time']) * 1000:7.1f} ms  {q['sql'][:220]}")


def fallback_compare(urls: dict[str, str], repeat: int) -> None:
    """The CPU-fallback figures alone, per page scope: the rollup read the page makes against the bounded raw sample
    (the newest 5,000 sessions of the last 24 h: what the page read before, and still reads with an app or OS version
    filter), interleaved in one process."""
    print(f"\nCPU-fallback figures alone, median of {repeat} reads each (wall ms):")
    for name in ("fleet 30d", "fleet 30d cohort"):
        scope = scope_parse(QueryDict(urls[name].split("?", 1)[1]))
        scoped = {"start": scope.time_range.start, "end": scope.time_range.end, "filters": scope.filters}
        reads = {
            "rollups": partial(fallback.fallback_ops_get, **scoped),
            "raw sample": partial(fallback._sample_ops, **scoped, limit=fallback.TOP_OPS, sampled_by=("bench",)),
        }
        timings: dict[str, list[float]] = {read: [] for read in reads}
        for _ in range(repeat):
            for read, call in reads.items():
                started = time.perf_counter()
                call()
                timings[read].append((time.perf_counter() - started) * 1000)
        rollups, sample = (statistics.median(timings[read]) for read in reads)
        print(f"  {name:<18} rollups {rollups:6.1f} ms, raw sample {sample:6.1f} ms ({sample / rollups:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, help="load this many sessions through perf/dashboard_bench.py first")
    parser.add_argument("--reuse", action="store_true", help="measure the fleet already loaded")
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="profile both fleet pages after measuring")
    args = parser.parse_args()
    if not settings.IS_POSTGRES:
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://... (a scratch database: a load truncates it)")
    if bool(args.sessions) == args.reuse:
        sys.exit("give --sessions N (load) or --reuse (the fleet already loaded)")
    call_command("migrate", verbosity=0)
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages, ALLOWED_HOSTS=["testserver"]):
        if args.sessions:
            dashboard_bench.run(sessions=args.sessions, devices=args.devices, days=args.days, repeat=3)
        else:
            dashboard_bench.windows_rebuild()  # the windows' ranges move with the clock, as a rollup run rebuilds them
        fallback_rollups_fill()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM telemetry_inferencesession")
            print(f"\nfleet page on {cursor.fetchone()[0]:,} raw sessions, median of {args.repeat} renders each:")
        client, urls = client_make(), pages()
        measure(client, urls, args.repeat)
        fallback_compare(urls, args.repeat)
        if args.profile:
            for name in ("fleet 30d", "fleet 30d cohort"):
                profile(client, name, urls[name])


if __name__ == "__main__":
    main()
