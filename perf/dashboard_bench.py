"""Dashboard render times at fleet scale: home, /fleet/ 30 days (all and one cohort), a crash group, the compat
matrix and a device page, each also as a ratio to a logged-in `GET /api/v1/me/` timed in the same run.

Loads a synthetic fleet (perf/fleet_seed.py) straight into PostgreSQL: rollup rows (hourly, daily, device-activity days, and the
coarser grains through the rollup services that maintain them) at the cardinality the sessions would produce,
and raw sessions / crash reports via COPY (10 M rows through the HTTP ingest path take too long here). The data
covers `--days` UTC calendar days up to the current hour, as a live fleet's would. Then renders each page through
the Django test client and prints the median render time and the query count per page, per size. Dashboards must
cost what their rollup rows cost, so with two sizes the script prints each page's large / small ratio and
extrapolates 100 M from them.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ep_fleet \\
        .venv/bin/python perf/dashboard_bench.py --sessions 1000000 --sessions 10000000

The database is TRUNCATEd (telemetry, compat): point it at a scratch database. `--reuse` measures the pages again on
the fleet the last run left there (no truncate, no load), e.g. at a quieter moment of a shared machine.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")
# A local benchmark runs with production settings (DEBUG off); it needs some key, never a real one.
os.environ.setdefault("SECRET_KEY", "dashboard-bench-only-" + "x" * 40)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from compat.models import DeviceModel, MLModel, ModelVersion  # noqa: E402
from core.roles import roles_sync  # noqa: E402
from telemetry.kpi.buckets import day_floor, hour_floor  # noqa: E402
from telemetry.models import CrashGroup, DailyCrashGroupRollup, Device  # noqa: E402
from telemetry.rollups.daily import rollup_day_coarse_compute  # noqa: E402
from telemetry.rollups.grains import device_models_seen_record  # noqa: E402
from telemetry.rollups.trailing import trailing_rollups_rebuild  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet_seed import (  # noqa: E402
    MODELS,
    TRUNCATE,
    catalog_make,
    compat_cells_make,
    devices_make,
    raw_load,
    raw_rollups_fill,
    rollups_load,
)


def profile(client: Client, url: str) -> None:
    """One render of ``url`` under cProfile: the top functions by cumulative time and the slowest queries."""
    import cProfile
    import pstats

    client.get(url, secure=True)
    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profiler.enable()
        client.get(url, secure=True)
        profiler.disable()
    # The project's own functions (the framework's frames are in every page alike), by cumulative time.
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"^(?!.*(site-packages|lib/python))", 50)
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:15]
    total = sum(float(q["time"]) for q in queries.captured_queries)
    print(f"  {len(queries.captured_queries)} queries, {total * 1000:.1f} ms in SQL; slowest:")
    for query in slowest:
        print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:240]}")


def measure(client: Client, url: str, repeat: int) -> tuple[float, int]:
    client.get(url, secure=True)  # warm caches (templates, content types); production settings redirect http
    timings = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, secure=True)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings), len(queries.captured_queries)


def run(*, sessions: int, devices: int, days: int, repeat: int) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TRUNCATE)} RESTART IDENTITY CASCADE")
    # `days` UTC calendar days up to the current hour: the 30-day view's range, the last day partial.
    end = hour_floor(datetime.now(UTC))
    start = day_floor(end) - timedelta(days=days - 1)
    hours = int((end - start) / timedelta(hours=1))
    t0 = time.perf_counter()
    catalog = catalog_make(random.Random(3))
    profiles = devices_make(catalog, count=devices, start=start)
    counts = rollups_load(profiles, catalog, sessions=sessions, start=start, days=days, hours=hours)
    # Per-cell, per-device-model, fleet and adoption daily rows through the service the daily rollup runs.
    for day in range(days):
        rollup_day_coarse_compute(day=(start + timedelta(days=day)).date())
    device_models_seen_record(activity=[(p["id"], p["dm"]) for p in profiles])  # as the hourly rollup records them
    raw, crashes, pairs = raw_load(profiles, catalog, sessions=sessions, start=start, days=days, hours=hours)
    load_s = time.perf_counter() - t0
    raw_rollups_fill()
    windows_rebuild()
    biggest = CrashGroup.objects.order_by("-event_count").first()
    print(f"\n{sessions:,} sessions ({raw:,} raw, {crashes:,} crashes, {pairs:,} group-device pairs), {devices:,} devices, "
          f"{days} d; rollups: {counts['hourly']:,} hourly, {counts['daily']:,} daily, {counts['activity']:,} activity rows, "
          f"{counts['fleet_hourly']:,} fleet hours; biggest crash group {biggest.event_count:,} crashes in "
          f"{DailyCrashGroupRollup.objects.filter(group=biggest).count():,} daily rollup rows;"
          f" loaded in {load_s:.0f} s")  # fmt: skip
    return pages_measure(device_model=catalog["device_models"][5], model_version=catalog["versions"][5 % MODELS][2],
                         repeat=repeat)  # fmt: skip


def windows_rebuild() -> None:
    """The trailing windows, as every rollup run rebuilds them (after the raw rows: the 24 h edges count raw devices)."""
    started = time.perf_counter()
    windows = trailing_rollups_rebuild()
    full_ms = (time.perf_counter() - started) * 1000
    # A rollup run of the current hour: the 7- and 30-day windows add today's rows to their kept closed-day sums.
    started = time.perf_counter()
    trailing_rollups_rebuild(hours=[hour_floor(datetime.now(UTC))])
    run_ms = (time.perf_counter() - started) * 1000
    print(f"  trailing windows {', '.join(windows)} rebuilt in {full_ms:.0f} ms in full (closed days summed again),"
          f" {run_ms:.0f} ms as a rollup run of the current hour rebuilds them (what each run adds)")  # fmt: skip


def pages_measure(*, device_model, model_version, repeat: int, only=(), profile_page: str = "") -> dict:
    """Median render time and query count of each page on the data in the database (``only``: those pages and
    `api me`; ``profile_page``: also profile one render of that page)."""
    user, _ = User.objects.get_or_create(username="bench-viewer")
    roles_sync()
    user.groups.add(*Group.objects.filter(name="viewer"))
    client = Client()
    client.force_login(user)
    biggest = CrashGroup.objects.order_by("-event_count").first()
    cohort = (
        f"device_model={device_model.slug}&model={model_version.ml_model.slug}&model_version={model_version.version}"
    )
    device = Device.objects.filter(device_model=device_model).order_by("uid").first()
    busiest = compat_cells_make()
    pages = {
        "api me": "/api/v1/me/",  # the trivial logged-in request every page is judged against
        "home": "/",
        "fleet 30d": "/fleet/?range=30d",
        "fleet 30d cohort": f"/fleet/?range=30d&{cohort}",
        "crash group": f"/crashes/{biggest.pk}/",
        "compat matrix": "/compat/",
        "device page": f"/fleet/devices/{device.uid}/",
        "compat overlay": "/compat/?overlay=gap",  # the matrix coloured by field ÷ lab latency
        "compat cell": f"/compat/cell/{busiest.pk}/",  # lab vs field: gap, thermal split, drift
    }
    if only:
        pages = {name: url for name, url in pages.items() if name == "api me" or name in only}
    if profile_page:
        profile(client, pages[profile_page])
    results = {name: measure(client, url, repeat) for name, url in pages.items()}
    trivial = results["api me"][0]
    for name, (median_ms, queries) in results.items():
        print(f"  {name:<18} median {median_ms:7.1f} ms  {queries:3d} queries  {median_ms / trivial:5.1f}x api me")
    return results


def loaded_measure(*, repeat: int, only=(), profile_page: str = "", rebuild: bool = True) -> None:
    """--reuse: the pages again on the fleet a previous run left in the database (a quieter moment, no reload)."""
    models = list(MLModel.objects.order_by("id"))
    versions = list(ModelVersion.objects.filter(ml_model=models[5 % MODELS]).order_by("id"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM telemetry_inferencesession")
        (sessions,) = cursor.fetchone()
    print(f"\nmeasured again on the loaded fleet: {sessions:,} raw sessions")
    if rebuild:  # the windows' ranges move with the clock: a rollup run since the load would have rebuilt them
        windows_rebuild()
    pages_measure(device_model=DeviceModel.objects.order_by("id")[5], model_version=versions[2], repeat=repeat,
                  only=only, profile_page=profile_page)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, action="append", help="repeat for several sizes (default 1 M)")
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="measure the fleet already loaded (no truncate, no load)")
    parser.add_argument("--page", action="append", default=[], help="time only this page (and api me); repeatable")
    parser.add_argument("--profile", default="", help="with --reuse: also profile one render of this page (e.g. home)")
    parser.add_argument("--no-rebuild", action="store_true", help="with --reuse: keep the windows as they are")
    args = parser.parse_args()
    if not settings.IS_POSTGRES:
        sys.exit("needs PostgreSQL: set DATABASE_URL=postgres://... (a scratch database: it is truncated)")
    call_command("migrate", verbosity=0)
    sizes = sorted(args.sessions or [1_000_000])
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    if args.reuse:
        with override_settings(STORAGES=storages, ALLOWED_HOSTS=["testserver"]):
            loaded_measure(repeat=args.repeat, only=args.page, profile_page=args.profile, rebuild=not args.no_rebuild)
        return
    with override_settings(STORAGES=storages, ALLOWED_HOSTS=["testserver"]):
        measured = {
            size: run(sessions=size, devices=args.devices, days=args.days, repeat=args.repeat) for size in sizes
        }
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\n{large:,} vs {small:,} sessions (each page's median, same run):")
        for name in measured[large]:
            a, b = measured[small][name][0], measured[large][name][0]
            print(f"  {name:<18} {b / a:5.2f}x")
        print(f"\nExtrapolated to 100,000,000 sessions (linear in sessions from {small:,} and {large:,}):")
        for name in measured[large]:
            a, b = measured[small][name][0], measured[large][name][0]
            at_100m = b + max(0.0, b - a) * (100_000_000 - large) / (large - small)  # noise can make b < a
            print(f"  {name:<18} {at_100m:8.1f} ms  ({at_100m / b:.1f}x the {large:,} figure)")


if __name__ == "__main__":
    main()
