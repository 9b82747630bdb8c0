"""Delegate-fallback drift reads at scale: one large compat cell, its raw sessions and daily rollups.

Seeds a scratch PostgreSQL database (migrated, then TRUNCATEd: point it at a throwaway one) with one cell of
`--sessions` raw sessions spread over the last 7 UTC days across `--devices` devices (two OS versions, two firmware
builds; a quarter of the sessions fall back on two ops; thermal states nominal / fair / serious / "Critical" /
none, the throttled ones slower; four sessions in five report energy, inferences 10 to 40), the matching DailyRollup
and DailyCoarseRollup rows, the fallback and thermal rollups (telemetry/rollups/fallback.py and thermal.py; timed,
rebuilt on --reuse), and a lab run with a per-op profile and latency quantiles. Then times `cell_drift_get` (the cell
page's drift panel), `drift_list` (the ranked page and the API) and `GET /api/v1/lab-field/drift/`, then the thermal
reads: the unfiltered thermal list (page), `GET /api/v1/lab-field/thermal/`, and the cell page's `cell_gap_get` (its
thermal split and thermal states), median of `--rounds`, with the query counts; last, the thermal figures they show
(compare runs).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ep_drift_bench .venv/bin/python perf/drift_bench.py --sessions 1000000

`--reuse --thermal-only` measures the thermal reads again on the seeded data (rebuilding only the thermal rollups).
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")
os.environ.setdefault("SECRET_KEY", "drift-bench-only-" + "x" * 40)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks.models import BenchmarkOp, BenchmarkRun, BenchmarkSeries  # noqa: E402
from compat.models import CompatEntry, Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion  # noqa: E402
from core.roles import roles_sync  # noqa: E402
from core.services import api_key_create  # noqa: E402
from labfield.drift import cell_drift_get, drift_list  # noqa: E402
from labfield.selectors import ENTRY_RELATED, cell_gap_get  # noqa: E402
from labfield.thermal import thermal_list  # noqa: E402
from telemetry.kpi.buckets import day_floor, hours_between  # noqa: E402
from telemetry.models import DailyRollup, Device, InferenceSession  # noqa: E402
from telemetry.rollups.daily import rollup_day_coarse_compute  # noqa: E402
from telemetry.rollups.fallback import fallback_day_replace, fallback_hour_replace  # noqa: E402
from telemetry.rollups.thermal import thermal_day_replace, thermal_hour_replace  # noqa: E402

LIST = "/api/v1/lab-field/drift/"
THERMAL = "/api/v1/lab-field/thermal/"
OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_BILINEAR", "TRANSPOSE_CONV")
# (thermal state as the device sends it, weight, latency histogram counts): the throttled states run slower.
THERMAL_STATES = (
    ("nominal", 50, {"120": 15, "126": 5}), ("fair", 20, {"121": 15, "127": 5}), ("serious", 15, {"140": 15, "150": 5}),
    ("Critical", 5, {"150": 15, "160": 5}), ("", 10, {"120": 15, "126": 5}),
)  # fmt: skip


def seed(sessions: int, devices: int) -> CompatEntry:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE telemetry_inferencesession, telemetry_dailyrollup, telemetry_device, benchmarks_benchmarkop, "
            "benchmarks_benchmarkrun, benchmarks_benchmarkseries, compat_compatevidence, compat_compatstatuschange, "
            "compat_compatentry, compat_modelversion, compat_mlmodel, compat_delegate, compat_runtimeversion, "
            "compat_runtime, compat_devicemodel, telemetry_hourlyfallbackrollup, telemetry_dailyfallbackrollup, "
            "telemetry_dailyfallbackdevice, telemetry_dailycoarserollup, telemetry_hourlythermalrollup, "
            "telemetry_dailythermalrollup, telemetry_dailythermaldevice CASCADE"
        )
    dm = DeviceModel.objects.create(slug="pixel-8", vendor="Google", name="Pixel 8", os_family="android", tier=1,
                                    accelerators=["gpu"])  # fmt: skip
    model = MLModel.objects.create(slug="yolov8n", name="YOLOv8n")
    mv = ModelVersion.objects.create(ml_model=model, version="1.4.0")
    runtime = Runtime.objects.create(slug="tflite", name="TFLite")
    rv = RuntimeVersion.objects.create(runtime=runtime, version="2.16.1")
    gpu = Delegate.objects.create(runtime=runtime, slug="gpu", name="GPU", kind="gpu")
    entry = CompatEntry.objects.create(model_version=mv, runtime_version=rv, delegate=gpu, device_model=dm)
    series = BenchmarkSeries.objects.create(ml_model=model, precision="fp32", runtime=runtime, delegate=gpu,
                                            device_model=dm, key="bench")  # fmt: skip
    run = BenchmarkRun.objects.create(series=series, model_version=mv, runtime_version=rv, delegate=gpu,
                                      device_model=dm, accelerated_fraction=1.0, ran_at=timezone.now(),
                                      latency_p50_ms=10.0, latency_p95_ms=12.0)  # fmt: skip
    BenchmarkOp.objects.bulk_create([
        BenchmarkOp(run=run, position=i, name=op.lower(), op_type=op, delegate="gpu", accelerated=True, avg_ms=1.0)
        for i, op in enumerate(OPS)
    ])  # fmt: skip
    os_of = {i: "Android 15" if i % 4 == 0 else "Android 14" for i in range(devices)}
    rows = Device.objects.bulk_create([
        Device(uid=f"d-{i:06d}", device_model=dm, os_version=os_of[i], app_version="3.2.1",
               firmware="AP4A" if os_of[i] == "Android 15" else "UP1A")
        for i in range(devices)
    ])  # fmt: skip
    start = day_floor(timezone.now()) - timedelta(days=6)
    span = (timezone.now() - start).total_seconds() - 60
    rng = random.Random(7)
    sums: dict = defaultdict(lambda: [0, 0.0, 0, 0, defaultdict(int)])
    states = [state for state in THERMAL_STATES for _ in range(state[1])]
    batch = []
    for n in range(sessions):
        device = rows[n % devices]
        drifted = device.os_version == "Android 15"
        at = start + timedelta(seconds=rng.random() * span)
        fraction = 0.6 if drifted else 0.99
        thermal, _, counts = rng.choice(states)
        inferences = 10 + 10 * rng.randrange(4)
        counts = {key: count * inferences // 20 for key, count in counts.items()}
        energy = 1.0 + 0.25 * rng.randrange(5) if rng.random() < 0.8 else None
        batch.append(InferenceSession(
            event_id=uuid.uuid4(), device=device, session_id=f"s{n}", device_model=dm, model_version=mv,
            runtime_version=rv, delegate=gpu, app_version="3.2.1", os_version=device.os_version, started_at=at,
            received_at=at, duration_s=60.0, inferences=inferences, errors=0, latency_histogram={"counts": counts},
            accelerated_fraction=fraction, fallback_ops=["RESIZE_BILINEAR", "TRANSPOSE_CONV"] if drifted else [],
            thermal_state=thermal, energy_mj_per_inference=energy, in_partial=True,
        ))  # fmt: skip
        acc = sums[(day_floor(at), device.os_version)]
        acc[0] += 1
        acc[1] += fraction * inferences
        acc[2] += inferences
        acc[3] += inferences
        for key, count in counts.items():
            acc[4][key] += count
        if len(batch) == 10_000:
            InferenceSession.objects.bulk_create(batch)
            batch = []
    InferenceSession.objects.bulk_create(batch)
    DailyRollup.objects.bulk_create([
        DailyRollup(bucket_start=day, device_model=dm, model_version=mv, runtime_version=rv, delegate=gpu,
                    app_version="3.2.1", os_version=os_version, sessions=n, accelerated_weighted_sum=ws,
                    accelerated_weight=w, inferences=inferences, latency_histogram={"counts": dict(counts)})
        for (day, os_version), (n, ws, w, inferences, counts) in sums.items()
    ])  # fmt: skip
    for day in sorted({day for day, _ in sums}):
        rollup_day_coarse_compute(day=day.date())  # the cell page's 7- and 30-day field figures
    fallback_build()
    thermal_build()
    return entry


def fallback_build() -> None:
    """The fallback rollups as the rollup run builds them: every hour from its raw rows, then each day."""
    start = day_floor(timezone.now()) - timedelta(days=6)
    began = time.perf_counter()
    hours = hours_between(start, timezone.now())
    for hour in hours:
        fallback_hour_replace(hour=hour)
    for day in range(7):
        fallback_day_replace(day=(start + timedelta(days=day)).date())
    print(f"fallback rollups built in {time.perf_counter() - began:.1f} s ({len(hours)} hours, then 7 days)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def thermal_build() -> None:
    """The thermal rollups as the rollup run builds them (telemetry/rollups/thermal.py): every hour, then each day."""
    start = day_floor(timezone.now()) - timedelta(days=6)
    began = time.perf_counter()
    hours = hours_between(start, timezone.now())
    for hour in hours:
        thermal_hour_replace(hour=hour)
    for day in range(7):
        thermal_day_replace(day=(start + timedelta(days=day)).date())
    print(f"thermal rollups built in {time.perf_counter() - began:.1f} s ({len(hours)} hours, then 7 days)")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(fn, rounds: int) -> tuple[float, int]:
    fn()
    times = []
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), len(captured)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="measure the cell the last run seeded (no truncate)")
    parser.add_argument("--thermal-only", action="store_true", help="only the thermal rollups and reads")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("point DATABASE_URL at a scratch PostgreSQL database")
    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    if args.reuse:
        entry = CompatEntry.objects.get()
        print(f"reusing {InferenceSession.objects.count():,} sessions")
        if not args.thermal_only:
            fallback_build()
        thermal_build()
    else:
        entry = seed(args.sessions, args.devices)
        print(f"seeded {args.sessions:,} sessions / {args.devices:,} devices in {time.perf_counter() - began:.0f} s")
    _, raw_key = api_key_create(name="drift bench", scopes=["read"])
    client = Client()
    drifting = {"LAB_FIELD_DRIFT_MIN_SESSIONS": 10}
    healthy = {**drifting, "LAB_FIELD_DRIFT_POINTS": 90.0}  # no part that far below: rollups only
    for label, knobs in () if args.thermal_only else (("drifting cell", drifting), ("healthy cell", healthy)):
        with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False, **knobs):
            reads = (
                ("cell_drift_get (cell page panel)", lambda: cell_drift_get(entry=entry)),
                ("drift_list (ranked page, API)", drift_list),
                ("GET /api/v1/lab-field/drift/", lambda: client.get(LIST, HTTP_AUTHORIZATION=f"Bearer {raw_key}")),
            )
            for name, fn in reads:
                median, queries = timed(fn, args.rounds)
                print(f"{label}, {name}: {median:.0f} ms median of {args.rounds}, {queries} queries")
    # The thermal and energy attribution over the same sessions: the unfiltered list and the cell page's parts.
    cell_entry = CompatEntry.objects.select_related(*ENTRY_RELATED).get(pk=entry.pk)
    thermal_reads = (
        ("thermal_list (unfiltered page, API)", lambda: thermal_list(filters={})),
        ("GET /api/v1/lab-field/thermal/", lambda: client.get(THERMAL, HTTP_AUTHORIZATION=f"Bearer {raw_key}")),
        ("cell_gap_get (cell page: thermal split and states)", lambda: cell_gap_get(entry=cell_entry)),
    )
    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False):
        for name, fn in thermal_reads:
            median, queries = timed(fn, args.rounds)
            print(f"thermal, {name}: {median:.0f} ms median of {args.rounds}, {queries} queries")
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # no collectstatic manifest here
    with override_settings(ALLOWED_HOSTS=["testserver"], SECURE_SSL_REDIRECT=False,
                           STORAGES={**settings.STORAGES, "staticfiles": static}):  # fmt: skip
        cell_page_measure(entry, args.rounds)
    drift = cell_drift_get(entry=entry)
    print("check:", drift.drifting_parts, [(op.name, op.sessions) for op in drift.ops], drift.devices_affected)
    thermal_figures_print(cell_entry)


def cell_page_measure(entry: CompatEntry, rounds: int) -> None:
    """The whole cell page (gap, thermal split, drift panel, evidence) against a logged-in `GET /api/v1/me/`, as a
    viewer, interleaved so load swings hit both alike: the dashboard goal is ≤ 20× the trivial request."""
    user, _ = User.objects.get_or_create(username="drift-bench-viewer")
    roles_sync()
    user.groups.add(*Group.objects.filter(name="viewer"))
    client = Client()
    client.force_login(user)
    urls = {"api me": "/api/v1/me/", "cell page": f"/compat/cell/{entry.pk}/"}
    timings: dict[str, list[float]] = {name: [] for name in urls}
    queries = {}
    for url in urls.values():
        assert client.get(url).status_code == 200, url  # warm
    for _ in range(max(rounds, 7)):
        for name, url in urls.items():
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                assert client.get(url).status_code == 200, url
                timings[name].append((time.perf_counter() - began) * 1000)
            queries[name] = len(captured)
    trivial = statistics.median(timings["api me"])
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name}: {median:.1f} ms median, {queries[name]} queries, {median / trivial:.1f}x api me")


def thermal_figures_print(entry: CompatEntry) -> None:
    """The thermal figures the pages show, to compare between runs on the same data (raw reads vs rollups)."""
    for row in thermal_list(filters={}):
        energy = row.energy_mj_per_inference
        print(
            f"thermal row {row.device_model} {row.label!r}: {row.sessions} sessions, {row.devices} devices, "
            f"{row.inferences} inferences, p50 {row.p50_ms:.3f} p95 {row.p95_ms:.3f} ms, energy "
            f"{'not reported' if energy is None else f'{energy:.6f}'} mJ/inference ({row.energy.sessions} sessions)"
        )
    gap = cell_gap_get(entry=entry)
    for split in gap.thermal:
        f = split.field
        print(f"thermal split {split.label}: {f.sessions} sessions, {f.devices} devices, p50 {f.p50_ms:.3f} "
              f"p95 {f.p95_ms:.3f} ms, flagged {split.flagged}")  # fmt: skip
    print(f"cell energy 7 d: {gap.energy_7d.mj_per_inference:.6f} mJ/inference ({gap.energy_7d.sessions} sessions)")


if __name__ == "__main__":
    main()
