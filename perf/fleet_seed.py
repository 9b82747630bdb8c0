"""The synthetic fleet perf/dashboard_bench.py measures (perf/fleet_bench.py loads it through that script).

Loads straight into PostgreSQL: rollup rows (hourly, daily, device-activity days, and the coarser grains through the
rollup services that maintain them) at the cardinality the sessions would produce, raw sessions / crash reports via
COPY (10 M rows through the HTTP ingest path take too long here), the fallback and thermal rollups from the raw hours,
and a compat entry per cell the fleet ran. Import after Django is set up (the bench scripts do it first).
"""

import json
import math
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db import connection

from compat.models import CompatEntry, Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion
from edgeportal_client.histogram import LatencyHistogram
from telemetry.models import CrashGroup, Device
from telemetry.rollups.crash_groups import crash_group_day_replace, crash_group_hours_replace
from telemetry.rollups.fallback import fallback_rollups_backfill
from telemetry.rollups.thermal import thermal_rollups_backfill

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
