"""Server-side render time of /compat/ at 60 model versions × 150 device models × 4 runtime-delegate pairs.

    .venv/bin/python perf/compat_matrix_bench.py                       # throwaway SQLite file under /tmp
    .venv/bin/python perf/compat_matrix_bench.py --database-url postgres://postgres@127.0.0.1:5432/ep_bench --reset

Seeds 36,000 cells (statuses and headline figures, as compat_evidence_record leaves them) into its own database,
then renders the full page through Django's test client (middleware, auth, template) 10 times after one warm-up
and prints the median, the spread and the query count of one render. --reset empties the compat tables first
(refused on a database whose name does not look like a throwaway: it must contain "bench" or "tmp").
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

    from compat.models import CompatEntry, DeviceModel, ModelVersion

    call_command("migrate", verbosity=0)
    if args.reset:
        for model in (CompatEntry, ModelVersion, DeviceModel):
            model.objects.all().delete()
    if CompatEntry.objects.exists():
        parser.error("the database already holds compat cells; pass --reset (throwaway databases only)")
    t0 = time.perf_counter()
    cells = _seed(model_versions=args.model_versions, device_models=args.device_models)
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
    timings = []
    for _ in range(args.renders):
        start = time.perf_counter()
        response = client.get("/compat/")
        timings.append((time.perf_counter() - start) * 1000)
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
