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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_bench  # noqa: E402  (sets up Django)
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from compat.models import DeviceModel, MLModel, ModelVersion  # noqa: E402
from core.roles import roles_sync  # noqa: E402
from telemetry.models import DailyFallbackRollup, HourlyFallbackRollup  # noqa: E402
from telemetry.rollups.fallback import fallback_rollups_backfill  # noqa: E402


def fallback_rollups_fill() -> None:
    started = time.perf_counter()
    done = fallback_rollups_backfill()
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
    """Median of `repeat` warm renders per page, interleaved (load swings hit every page alike), and its ratio."""
    for url in urls.values():
        assert client.get(url, secure=True).status_code == 200, url  # warm
    timings: dict[str, list[float]] = {name: [] for name in urls}
    queries: dict[str, int] = {}
    for _ in range(repeat):
        for name, url in urls.items():
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, secure=True)
                timings[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            queries[name] = len(captured.captured_queries)
    trivial = statistics.median(timings["api me"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:<18} median {median:7.1f} ms  {queries[name]:3d} queries  {median / trivial:5.1f}x api me")


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
        if args.profile:
            for name in ("fleet 30d", "fleet 30d cohort"):
                profile(client, name, urls[name])


if __name__ == "__main__":
    main()
