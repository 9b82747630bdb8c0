"""Server-side render time of /compat/ at 60 model versions × 150 device models × 4 runtime-delegate pairs.

    .venv/bin/python perf/compat_matrix_bench.py                       # throwaway SQLite file under /tmp
    .venv/bin/python perf/compat_matrix_bench.py --database-url postgres://postgres@127.0.0.1:5432/ep_bench --reset
    .venv/bin/python perf/compat_matrix_bench.py --overlay      # also /compat/?overlay=gap, same run, alternating

Seeds 36,000 cells (statuses and headline figures, as compat_evidence_record leaves them) into its own database,
then renders the full page through Django's test client (middleware, auth, template) 10 times after one warm-up
and prints the median, the spread and the query count of one render. --reset empties the compat tables first
(refused on a database whose name does not look like a throwaway: it must contain "bench" or "tmp").
--overlay also seeds, for --field-share of the cells, a done lab run and 7 days of cell rollups (a 20-bucket
histogram a day), then renders /compat/ and /compat/?overlay=gap alternately and prints both medians and their ratio.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATUSES = ["supported"] * 5 + ["degraded"] * 3 + ["unsupported"] * 1 + ["untested"] * 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a new SQLite file under /tmp")
    parser.add_argument("--model-versions", type=int, default=60)
    parser.add_argument("--device-models", type=int, default=150)
    parser.add_argument("--renders", type=int, default=10)
    parser.add_argument("--reset", action="store_true", help="empty the compat tables first (throwaway DBs only)")
    parser.add_argument("--overlay", action="store_true", help="also render ?overlay=gap (seeds lab and field rows)")
    parser.add_argument("--field-share", type=float, default=0.25, help="share of cells with lab and field (--overlay)")
    args = parser.parse_args()

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='compat-bench-')}/bench.sqlite3"
    if args.reset and not any(word in url.rsplit("/", 1)[-1] for word in ("bench", "tmp")):
        parser.error("--reset only on a throwaway database (its name must contain 'bench' or 'tmp')")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", "compat-bench-not-a-secret-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("STATIC_MANIFEST", "0")  # no collectstatic in a bench run
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from compat.models import CompatEntry, DeviceModel, MLModel, ModelVersion

    call_command("migrate", verbosity=0)
    if args.reset:
        from benchmarks.models import BenchmarkRun, BenchmarkSeries
        from telemetry.models import DailyCoarseRollup, TrailingClosedRollup, TrailingRollup

        # lab runs protect their catalog rows; --overlay's runs and rollups go first
        for model in (
            BenchmarkRun,
            BenchmarkSeries,
            DailyCoarseRollup,
            TrailingRollup,
            TrailingClosedRollup,
            CompatEntry,
            ModelVersion,
            MLModel,
            DeviceModel,
        ):
            model.objects.all().delete()
    if CompatEntry.objects.exists():
        parser.error("the database already holds compat cells; pass --reset (throwaway databases only)")
    t0 = time.perf_counter()
    cells = _seed(model_versions=args.model_versions, device_models=args.device_models)
    field_cells = _seed_lab_and_field(share=args.field_share) if args.overlay else 0
    seed_s = time.perf_counter() - t0

    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True, "is_staff": True})
    client = Client()
    client.force_login(user)
    response = client.get("/compat/")  # warm-up: template compilation, connection, caches
    assert response.status_code == 200, response.status_code
    # Count every statement the request runs (an execute wrapper sees them whatever the debug settings).
    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get("/compat/")
    timings, overlay_timings = [], []
    overlay_statements: list[str] = []
    if args.overlay:
        client.get("/compat/?overlay=gap")  # warm-up
        with connection.execute_wrapper(
            lambda execute, sql, *rest: overlay_statements.append(sql) or execute(sql, *rest)
        ):
            client.get("/compat/?overlay=gap")
    for _ in range(args.renders):  # alternating, so both pages meet the same machine load
        start = time.perf_counter()
        response = client.get("/compat/")
        timings.append((time.perf_counter() - start) * 1000)
        if args.overlay:
            start = time.perf_counter()
            overlaid = client.get("/compat/?overlay=gap")
            overlay_timings.append((time.perf_counter() - start) * 1000)
    html = response.content.decode()
    print(f"database        {connection.vendor} ({url.split('@')[-1]})")
    print(f"machine         {os.cpu_count()} CPUs, {_cpu_model()}")
    print(
        f"seeded          {cells} cells ({args.model_versions} model versions × {args.device_models} device models "
        f"× 4 runtime-delegate pairs) in {seed_s:.1f} s"
    )
    visible = html.count('<td class="c ')
    print(f"visible cells   {visible}; page {len(html) / 1024:.0f} KiB")
    print(
        f"render /compat/ median {statistics.median(timings):.0f} ms over {args.renders} renders "
        f"(min {min(timings):.0f}, max {max(timings):.0f})"
    )
    print(f"queries         {len(statements)} per render")
    if args.overlay:
        overlay_html = overlaid.content.decode()
        marked = sum(overlay_html.count(f" gap-{band}") for band in ("near", "within", "over", "none"))
        print(f"overlay         {field_cells} cells with a lab run and 7 days of field rollups; {marked} cells marked")
        print(
            f"render ?overlay=gap median {statistics.median(overlay_timings):.0f} ms "
            f"(min {min(overlay_timings):.0f}, max {max(overlay_timings):.0f}); "
            f"{statistics.median(overlay_timings) / statistics.median(timings):.2f}× the plain page; "
            f"{len(overlay_statements)} queries"
        )


def _seed(*, model_versions: int, device_models: int) -> int:
    """Bulk-creates the catalog and the cells: the statuses and figures a real evidence push would leave."""
    from django.db import transaction

    from compat.models import (
        CompatEntry,
        Delegate,
        DeviceModel,
        MLModel,
        ModelVersion,
        Runtime,
        RuntimeVersion,
    )

    rng = random.Random(7)
    with transaction.atomic():
        tflite, _ = Runtime.objects.get_or_create(slug="tflite", defaults={"name": "TFLite"})
        ort, _ = Runtime.objects.get_or_create(slug="onnxruntime", defaults={"name": "ONNX Runtime"})
        paths = []
        for runtime, version, delegates in ((tflite, "2.16.1", ("xnnpack", "gpu")), (ort, "1.19.2", ("cpu", "qnn"))):
            rv, _ = RuntimeVersion.objects.get_or_create(runtime=runtime, version=version)
            for slug in delegates:
                kind = "cpu" if slug in ("xnnpack", "cpu") else "gpu"
                delegate, _ = Delegate.objects.get_or_create(runtime=runtime, slug=slug, defaults={"kind": kind})
                paths.append((rv, delegate))
        vendors = ["Google", "Samsung", "Xiaomi", "Apple", "OnePlus", "NVIDIA", "Motorola", "Oppo", "Vivo", "Intel"]
        DeviceModel.objects.bulk_create(
            [
                DeviceModel(
                    slug=f"bench-device-{i}",
                    vendor=vendors[i % len(vendors)],
                    name=f"Bench Phone {i}",
                    soc=f"SoC {i % 17}",
                    os_family="android",
                    tier=1 + i % 3,
                    memory_budget_mb=400,
                )
                for i in range(device_models)
            ]
        )
        families = [MLModel.objects.create(slug=f"bench-model-{i}", name=f"Bench Model {i}") for i in range(15)]
        ModelVersion.objects.bulk_create(
            [
                ModelVersion(ml_model=families[i % len(families)], version=f"1.{i}-int8", precision="int8")
                for i in range(model_versions)
            ]
        )
        devices = list(DeviceModel.objects.filter(slug__startswith="bench-device-"))
        versions = list(ModelVersion.objects.filter(ml_model__slug__startswith="bench-model-"))
        entries = []
        for mv in versions:
            for dm in devices:
                for rv, delegate in paths:
                    status = rng.choice(STATUSES)
                    entries.append(
                        CompatEntry(
                            model_version=mv,
                            runtime_version=rv,
                            delegate=delegate,
                            device_model=dm,
                            derived_status=status,
                            derived_reason="bench",
                            override_status="supported" if rng.random() < 0.01 else "",
                            p95_latency_ms=rng.uniform(5, 300) if status != "untested" else None,
                            latency_budget_ms=50.0 * dm.tier,
                            crash_free_sessions=rng.uniform(0.98, 1.0) if status != "untested" else None,
                            accelerated_fraction=rng.uniform(0, 1) if status != "untested" else None,
                            sample_size=rng.randint(0, 5000),
                        )
                    )
        CompatEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def _seed_lab_and_field(*, share: float) -> int:
    """A done lab run and 7 daily cell rollups for ``share`` of the cells, field p95 0.8–2.4× the lab's."""
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from benchmarks.models import BenchmarkRun, BenchmarkSeries
    from compat.models import CompatEntry
    from edgeportal_client.histogram import LatencyHistogram
    from telemetry.kpi.buckets import DAY, day_floor
    from telemetry.models import DailyCoarseRollup

    rng = random.Random(11)
    cells = list(CompatEntry.objects.values_list("model_version_id", "runtime_version_id", "delegate_id",
                                                 "device_model_id", "model_version__ml_model_id",
                                                 "runtime_version__runtime_id"))  # fmt: skip
    chosen = rng.sample(cells, int(len(cells) * share))
    today = day_floor(timezone.now())
    with transaction.atomic():
        series = BenchmarkSeries.objects.bulk_create(
            [BenchmarkSeries(key=f"bench-{i}", ml_model_id=c[4], runtime_id=c[5], delegate_id=c[2], device_model_id=c[3])
             for i, c in enumerate(chosen)], batch_size=2000,
        )  # fmt: skip
        runs, rollups = [], []
        for s, (mv, rv, dl, dm, _, _) in zip(series, chosen, strict=True):
            lab_p95 = rng.uniform(5, 200)
            runs.append(BenchmarkRun(series=s, model_version_id=mv, runtime_version_id=rv, delegate_id=dl,
                                     device_model_id=dm, ran_at=timezone.now() - timedelta(days=1),
                                     latency_p50_ms=lab_p95 / 2, latency_p95_ms=lab_p95))  # fmt: skip
            scale = rng.uniform(0.8, 2.4)
            histogram = LatencyHistogram.from_samples([lab_p95 * scale * (0.5 + k / 38) for k in range(20)]).to_wire()
            for day in range(7):
                rollups.append(DailyCoarseRollup(bucket_start=today - day * DAY, model_version_id=mv,
                                                 runtime_version_id=rv, delegate_id=dl, device_model_id=dm,
                                                 sessions=rng.randint(0, 60), inferences=2000,
                                                 latency_histogram=histogram))  # fmt: skip
        BenchmarkRun.objects.bulk_create(runs, batch_size=2000)
        DailyCoarseRollup.objects.bulk_create(rollups, batch_size=2000)
    # As the rollup run that wrote these days would: the trailing windows' cell rows (the overlay reads the 7-day one).
    from telemetry.rollups.trailing import trailing_rollups_rebuild

    trailing_rollups_rebuild()
    return len(chosen)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
