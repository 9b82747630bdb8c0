"""Dashboard render times at fleet scale: home, /fleet/ 30 days (all and one cohort), a crash group, the compat
matrix and a device page, each also as a ratio to a logged-in `GET /api/v1/me/` timed in the same run.

Loads a synthetic fleet straight into PostgreSQL: rollup rows (hourly, daily, device-activity days, and the
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
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")
# A local benchmark runs with production settings (DEBUG off); it needs some key, never a real one.
os.environ.setdefault("SECRET_KEY", "dashboard-bench-only-" + "x" * 40)

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from compat.models import CompatEntry, Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion  # noqa: E402
from core.roles import roles_sync  # noqa: E402
from edgeportal_client.histogram import LatencyHistogram  # noqa: E402
from telemetry.kpi.buckets import day_floor, hour_floor  # noqa: E402
from telemetry.models import CrashGroup, DailyCrashGroupRollup, Device  # noqa: E402
from telemetry.rollups.crash_groups import crash_group_day_replace, crash_group_hours_replace  # noqa: E402
from telemetry.rollups.daily import rollup_day_coarse_compute  # noqa: E402
from telemetry.rollups.fallback import fallback_rollups_backfill  # noqa: E402
from telemetry.rollups.grains import device_models_seen_record  # noqa: E402
from telemetry.rollups.thermal import thermal_rollups_backfill  # noqa: E402
from telemetry.rollups.trailing import trailing_rollups_rebuild  # noqa: E402

DEVICE_MODELS, MODELS, VERSIONS, RUNTIMES = 40, 6, 4, 4
TRUNCATE = (
    "telemetry_alert", "telemetry_crashgroupauditevent", "telemetry_crashgroupnote", "telemetry_crashreport",
    "telemetry_crashgroupdevice", "telemetry_hourlycrashgrouprollup", "telemetry_dailycrashgrouprollup",
    "telemetry_crashgroup", "telemetry_inferencesession", "telemetry_hourlyrollup",
    "telemetry_dailyrollup", "telemetry_dailycoarserollup", "telemetry_dailydevicemodelrollup",
    "telemetry_dailyfleetrollup", "telemetry_hourlyfleetrollup", "telemetry_dailymodelversiondevices",
    "telemetry_devicemodeldevice", "telemetry_trailingrollup",
    "telemetry_deviceactivityday", "telemetry_devicelackingday", "telemetry_rollupdirtyhour", "telemetry_device",
    "compat_compatevidence", "compat_compatstatuschange", "compat_compatentry", "compat_modelversion",
    "compat_mlmodel", "compat_delegate", "compat_runtimeversion", "compat_runtime", "compat_devicemodel",
)  # fmt: skip


def _copy(table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples, None = NULL) into table; returns the row count."""
    n = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def catalog_make(rng: random.Random) -> dict:
    """40 device models over 8 vendors and 3 tiers, 6 models × 4 versions, 4 runtimes × 3 versions × cpu/gpu/npu."""
    device_models = [
        DeviceModel.objects.create(
            slug=f"bench-dm-{i:02d}", vendor=f"Vendor{i % 8}", name=f"Phone {i}", os_family="android", tier=i % 3 + 1,
            accelerators=["gpu", "npu"] if i % 4 else ["gpu"], memory_budget_mb=300 + 50 * (i % 6),
        )
        for i in range(DEVICE_MODELS)
    ]  # fmt: skip
    versions = []
    for m in range(MODELS):
        ml_model = MLModel.objects.create(slug=f"bench-model-{m}", name=f"Model {m}")
        versions.append([ModelVersion.objects.create(ml_model=ml_model, version=f"1.{v}.0") for v in range(VERSIONS)])
    runtimes = []
    for r in range(RUNTIMES):
        runtime = Runtime.objects.create(slug=f"bench-rt-{r}", name=f"Runtime {r}")
        rvs = [RuntimeVersion.objects.create(runtime=runtime, version=f"2.{v}.0") for v in range(3)]
        delegates = {
            k: Delegate.objects.create(runtime=runtime, slug=k, name=k.upper(), kind=k) for k in ("cpu", "gpu", "npu")
        }
        runtimes.append((rvs, delegates))
    return {"device_models": device_models, "versions": versions, "runtimes": runtimes}


def devices_make(catalog: dict, *, count: int, start: datetime) -> list[dict]:
    """Devices with a fixed runtime path; their model version and app version change mid-range (adoption)."""
    devices = Device.objects.bulk_create(
        [
            Device(uid=f"bench-{i:06d}", device_model=catalog["device_models"][i % DEVICE_MODELS],
                   os_version=f"Android {14 + i % 2}", app_version="3.2.0", first_seen_at=start, last_seen_at=start)
            for i in range(count)
        ], batch_size=2000,
    )  # fmt: skip
    profiles = []
    for i, device in enumerate(devices):
        dm_index = i % DEVICE_MODELS
        rvs, delegates = catalog["runtimes"][dm_index % RUNTIMES]
        delegate = delegates["cpu"] if i % 5 == 0 else delegates["npu" if dm_index % 4 else "gpu"]
        profiles.append({
            "id": device.id, "dm": device.device_model_id, "tier": dm_index % 3 + 1, "os": device.os_version,
            "rv": rvs[1 + i % 2].id, "dl": delegate.id, "families": (i % MODELS, (i + 1) % MODELS), "upgrades": i % 10 < 6,
        })  # fmt: skip
    return profiles


def cohort_of(profile: dict, catalog: dict, family: int, day: int, days: int) -> tuple:
    upgraded = profile["upgrades"] and day >= days * 2 // 3
    mv = catalog["versions"][family][3 if upgraded else 2].id
    app = "3.3.0" if profile["upgrades"] and day >= days // 2 else "3.2.0"
    return (profile["dm"], mv, profile["rv"], profile["dl"], app, profile["os"])


def _histogram_wire(center_ms: float, sessions: int, spread: float = 0.35) -> str:
    base = LatencyHistogram.from_samples(
        np.random.default_rng(int(center_ms * 10)).lognormal(math.log(center_ms), spread, 400)
    )
    scale = max(1, sessions * 200 // 400)
    return json.dumps(
        {"gamma": base.to_wire()["gamma"], "counts": {k: v * scale for k, v in base.to_wire()["counts"].items()}}
    )


def rollups_load(profiles, catalog, *, sessions: int, start: datetime, days: int, hours: int) -> dict:
    """Hourly/daily rollups, device-activity days and fleet hours at the cardinality `sessions` sessions would produce.

    The last day holds only the hours before now (`hours` in all, from `start`).
    """
    rng = np.random.default_rng(7)
    per_device_hour = sessions / (len(profiles) * hours * 2)  # two model families per device
    hourly, daily, activity = [], [], []
    hist_cache: dict = {}
    fleet_hours: dict[datetime, dict] = {}
    now = datetime.now(UTC)
    for day in range(days):
        day_hours = min(24, hours - day * 24)
        if day_hours <= 0:
            break
        cohorts: dict[tuple, list[int]] = {}
        for p in profiles:
            for family in p["families"]:
                cohorts.setdefault(cohort_of(p, catalog, family, day, days), []).append(p["id"])
        for cohort, device_ids in cohorts.items():
            day_start = start + timedelta(days=day)
            by_hour = rng.poisson(per_device_hour * len(device_ids), day_hours)
            total = int(by_hour.sum())
            if not total:
                continue
            tier = (cohort[0] % 3) + 1
            center = {1: 30.0, 2: 80.0, 3: 180.0}[tier] * (1.6 if cohort[3] % 3 == 1 else 1.0)
            crash_rate = 0.02 if cohort[0] % 13 == 0 else 0.002
            for key, n in [((day, h), int(c)) for h, c in enumerate(by_hour) if c] + [((day, None), total)]:
                hkey = (round(center), min(n, 64))
                if hkey not in hist_cache:
                    hist_cache[hkey] = (_histogram_wire(center, n), _histogram_wire(250.0, max(1, n // 200), 0.2))
                lat, rss = hist_cache[hkey]
                inferences = n * 200
                crashed = int(rng.binomial(n, crash_rate))
                row = (
                    day_start + timedelta(hours=key[1]) if key[1] is not None else day_start, *cohort, n, crashed,
                    crashed, inferences, int(rng.poisson(inferences * 0.0004)), lat, inferences * 0.93, inferences, rss,
                    min(n, len(device_ids)) if key[1] is not None else len(device_ids), now,
                )  # fmt: skip
                (hourly if key[1] is not None else daily).append(row)
                if key[1] is not None:  # the fleet hour: sums, histogram multiplicities, devices (capped below)
                    fleet = fleet_hours.setdefault(row[0], {"sums": [0] * 7, "hists": {}, "devices": 0})
                    for i, value in enumerate(
                        (n, crashed, crashed, inferences, row[11], inferences * 0.93, inferences)
                    ):
                        fleet["sums"][i] += value
                    fleet["hists"][hkey] = fleet["hists"].get(hkey, 0) + 1
                    fleet["devices"] += row[16]
            activity.extend((day_start.date(), device_id, *cohort) for device_id in device_ids)
    columns = ["bucket_start", "device_model_id", "model_version_id", "runtime_version_id", "delegate_id",
               "app_version", "os_version", "sessions", "crashed_sessions", "crashes", "inferences", "errors",
               "latency_histogram", "accelerated_weighted_sum", "accelerated_weight", "peak_rss_histogram",
               "devices", "computed_at"]  # fmt: skip
    fleet_rows = []
    for moment, fleet in sorted(fleet_hours.items()):
        merged = [{}, {}]
        for hkey, times in fleet["hists"].items():
            for target, wire in zip(merged, hist_cache[hkey], strict=True):
                for bucket, count in json.loads(wire)["counts"].items():
                    target[bucket] = target.get(bucket, 0) + count * times
        lat, rss = (json.dumps({"gamma": json.loads(hist_cache[hkey][0])["gamma"], "counts": m}) for m in merged)
        s = fleet["sums"]
        fleet_rows.append((moment, s[0], s[1], s[2], s[3], s[4], lat, s[5], s[6], rss,
                           min(fleet["devices"], len(profiles)), now,
                           int(rng.binomial(s[0], 0.1))))  # fmt: skip  # fallback sessions, as the raw rows' 10 %
    return {
        "fleet_hourly": _copy(
            "telemetry_hourlyfleetrollup",
            [c for c in columns if c not in columns[1:7]] + ["fallback_sessions"],
            fleet_rows,
        ),
        "hourly": _copy("telemetry_hourlyrollup", columns, hourly),
        "daily": _copy("telemetry_dailyrollup", columns, daily),
        "activity": _copy(
            "telemetry_deviceactivityday",
            [
                "day",
                "device_id",
                "device_model_id",
                "model_version_id",
                "runtime_version_id",
                "delegate_id",
                "app_version",
                "os_version",
            ],
            activity,
        ),  # fmt: skip
    }


def raw_load(profiles, catalog, *, sessions: int, start: datetime, days: int, hours: int) -> tuple[int, int, int]:
    """Raw sessions via COPY (times spread over the range) and 0.3 % crashes in Zipf-sized groups."""
    rng = random.Random(11)
    lat = json.dumps(LatencyHistogram.from_samples([12.0, 13.5, 30.0]).to_wire())
    crash_rows, group_devices = [], set()
    groups = CrashGroup.objects.bulk_create(
        [CrashGroup(fingerprint=f"{g:064x}", title=f"SIGSEGV in bench frame {g}", culprit=f"frame{g}", kind="native",
                    first_seen_at=start, last_seen_at=start + timedelta(hours=hours)) for g in range(200)]
    )  # fmt: skip
    weights = [1 / (g + 1) for g in range(200)]

    def rows():
        # Time-ordered, as devices' batches arrive: raw heap pages follow time (what BRIN and edge scans rely on).
        for hour in range(hours):
            for _ in range(sessions // hours + (hour < sessions % hours)):
                p = profiles[rng.randrange(len(profiles))]
                offset = hour * 3600 + rng.random() * 3600
                at = start + timedelta(seconds=offset)
                cohort = cohort_of(p, catalog, p["families"][rng.random() < 0.5], int(offset // 86400), days)
                crashed = rng.random() < 0.003
                sid = uuid.uuid4().hex
                if crashed:
                    group = rng.choices(groups, weights)[0]
                    crash_rows.append((uuid.uuid4(), p["id"], sid, group.id, group.fingerprint, *cohort, at))
                    group_devices.add((group.id, p["id"]))
                yield (uuid.uuid4(), p["id"], sid, *cohort[:4], cohort[4], cohort[5], at, at, 0.0, "ok", 60.0, 200, 0,
                       lat, 0.9, '["RESIZE_BILINEAR"]' if rng.random() < 0.1 else "[]", 200.0, "", crashed)  # fmt: skip

    n = _copy("telemetry_inferencesession",
              ["event_id", "device_id", "session_id", "device_model_id", "model_version_id", "runtime_version_id",
               "delegate_id", "app_version", "os_version", "started_at", "received_at", "clock_offset_s", "clock_flag",
               "duration_s", "inferences", "errors", "latency_histogram", "accelerated_fraction", "fallback_ops",
               "peak_rss_mb", "thermal_state", "has_crash"], rows())  # fmt: skip
    frames = json.dumps([{"function": "tflite::gpu::Run", "module": "libgpu.so", "in_app": False}])
    _copy("telemetry_crashreport",
          ["event_id", "device_id", "session_id", "group_id", "fingerprint", "device_model_id", "model_version_id",
           "runtime_version_id", "delegate_id", "app_version", "os_version", "occurred_at", "received_at",
           "clock_offset_s", "clock_flag", "kind", "signal", "exception_type", "message", "frames"],
          ((*r, r[-1], 0.0, "ok", "native", "SIGSEGV", "", "Fatal signal 11", frames) for r in crash_rows))  # fmt: skip
    _copy(
        "telemetry_crashgroupdevice",
        ["group_id", "device_id", "first_seen_at"],
        ((g, d, start) for g, d in group_devices),
    )
    # Crash-group rollups through the services the hourly and daily rollups run (the crash group page reads them).
    crash_group_hours_replace(start=start, end=start + timedelta(hours=hours))
    for day in range(days):
        crash_group_day_replace(start=start + timedelta(days=day))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE telemetry_crashgroup g SET event_count = c.n, device_count = c.d FROM (SELECT group_id, count(*) n,"
            " count(DISTINCT device_id) d FROM telemetry_crashreport GROUP BY group_id) c WHERE c.group_id = g.id"
        )
        # Rollup rows of past days are long vacuumed in a live database (visibility map set: index-only scans).
        cursor.execute("VACUUM ANALYZE")
    return n, len(crash_rows), len(group_devices)


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


def raw_rollups_fill() -> None:
    """The fallback and thermal rollups (the fleet page's CPU-fallback ops, the cell page's thermal split), through the
    services the rollup run calls: one grouped scan per raw hour each, as every hour's roll-up makes."""
    started = time.perf_counter()
    fallback_rollups_backfill()
    thermal_rollups_backfill()
    with connection.cursor() as cursor:  # as a live database's autovacuum would have them: statistics, visibility map
        for table in ("fallback", "thermal"):
            for grain in ("hourly{}rollup", "daily{}rollup", "daily{}device"):
                cursor.execute(f"VACUUM ANALYZE telemetry_{grain.format(table)}")
    print(f"  fallback and thermal rollups filled from the raw hours in {time.perf_counter() - started:.0f} s")


def compat_cells_make() -> CompatEntry:
    """A compat entry for every cell the fleet ran (as the rollups' field evidence makes them), so the matrix shows
    the fleet's cells; returns the one with the most sessions over the range (its page is the costliest)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT model_version_id, runtime_version_id, delegate_id, device_model_id FROM telemetry_dailyrollup"
            " GROUP BY 1, 2, 3, 4 ORDER BY sum(sessions) DESC, 1, 2, 3, 4"
        )
        cells = cursor.fetchall()
    fields = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
    CompatEntry.objects.bulk_create(
        [CompatEntry(**dict(zip(fields, cell, strict=True))) for cell in cells], ignore_conflicts=True
    )
    return CompatEntry.objects.get(**dict(zip(fields, cells[0], strict=True)))


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
