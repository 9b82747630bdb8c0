"""Demo lab history: months of nightly runs with realistic noise, two real regressions and FP32 → FP16 → INT8 pairs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import transaction

from compat import services as compat_services
from compat.models import Delegate, DeviceModel, ModelVersion, RuntimeVersion

from .importers.base import summarize_samples
from .models import BenchmarkOp, BenchmarkRun, BenchmarkSeries
from .processing import lab_evidence_input, series_detect
from .services import RunIdentity, benchmark_run_import, series_key_for

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "benchmarks" / "fixtures"
BUILD_PREFIX = "demo-nightly"
NOISE_CV = 0.015  # nightly lab runs on a pinned, cooled device: CV ~1–2 %
SAMPLES_PER_RUN = 40

# model -> base latency (ms) on a Pixel 8 per precision and tflite delegate
LATENCY_MS = {
    "mobilenet-v3-large": {
        "fp32": {"xnnpack": 11.8, "gpu": 6.1, "nnapi": 7.4},
        "fp16": {"xnnpack": 9.6, "gpu": 4.3, "nnapi": 5.2},
        "int8": {"xnnpack": 4.9, "gpu": 5.6, "nnapi": 2.1},
    },
    "efficientnet-lite0": {
        "fp32": {"xnnpack": 16.5, "gpu": 8.2},
        "int8": {"xnnpack": 7.1, "gpu": 8.9},
    },
}
DEVICE_SPEED = {"google-pixel-8": 1.0, "samsung-galaxy-s24-ultra": 0.82}
# (runtime version, first day it runs on): the 2.17.0 upgrade slows the GPU delegate by ~15 %.
TFLITE_UPGRADES = [("2.15.0", 0), ("2.16.1", 40), ("2.17.0", 85)]
GPU_SLOWDOWN_217 = 1.15
INT8_BAD_VERSION, INT8_BAD_FROM_DAY, INT8_ACCURACY_LOSS = "1.1-int8", 70, 3.0
OPS = [
    ("stem_conv", "CONV_2D", 0.16),
    ("bneck_1_dw", "DEPTHWISE_CONV_2D", 0.12),
    ("bneck_2_conv", "CONV_2D", 0.2),
    ("bneck_3_se", "MUL", 0.06),
    ("hard_swish_7", "HARD_SWISH", 0.08),
    ("bneck_4_conv", "CONV_2D", 0.22),
    ("avg_pool", "AVERAGE_POOL_2D", 0.04),
    ("classifier", "FULLY_CONNECTED", 0.1),
    ("softmax", "SOFTMAX", 0.02),
]
FIXTURE_IMPORTS = [
    ("tflite_gpu_complete_peak_monitoring.log", "tflite_benchmark_model", "mobilenet-v3-large", "1.0-fp32", "gpu"),
    (
        "tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log",
        "tflite_benchmark_model",
        "ssd-mobilenet-v2",
        "2.0-fp32",
        "xnnpack",
    ),
    ("tflite_failed_gpu_invoke.log", "tflite_benchmark_model", "deeplabv3-mobilenetv2", "1.0-fp16", "gpu"),
]


def _ops_for(*, run: BenchmarkRun, delegate: str, precision: str, rng: random.Random) -> list[BenchmarkOp]:
    # INT8 on the GPU and NNAPI leave HARD_SWISH on the CPU: the fallback the per-op charts should show.
    ops = []
    for position, (name, op_type, share) in enumerate(OPS):
        fell_back = op_type == "HARD_SWISH" and delegate in ("gpu", "nnapi") and precision == "int8"
        ops.append(
            BenchmarkOp(
                run=run,
                position=position,
                name=name,
                op_type=op_type,
                delegate="cpu" if fell_back else delegate.upper(),
                accelerated=not fell_back,
                avg_ms=run.latency_mean_ms * share * (2.5 if fell_back else 1.0) * rng.gauss(1, 0.01),
                share=None,
            )
        )
    total = sum(op.avg_ms for op in ops)
    for op in ops:
        op.share = op.avg_ms / total
    return ops


def step(*, size: str, stdout, progress) -> None:
    """Lab benchmarks: nightly history, regressions detected, fixture imports, lab evidence pushed to compat."""
    if BenchmarkRun.objects.filter(build__startswith=BUILD_PREFIX).exists():
        stdout.write("   lab history already seeded; skipped")
        return
    rng = random.Random(20261120)
    days = {"small": 60, "standard": 60, "full": 120}[size]
    devices = ["google-pixel-8"] if size == "small" else list(DEVICE_SPEED)
    start = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=days)
    with transaction.atomic():
        bad_int8, _ = ModelVersion.objects.update_or_create(
            ml_model=ModelVersion.objects.get(ml_model__slug="mobilenet-v3-large", version="1.0-int8").ml_model,
            version=INT8_BAD_VERSION,
            defaults={
                "format": "tflite",
                "precision": "int8",
                "size_bytes": int(5.5 * 2**20),
                "accuracy_metric": "top1",
                "reference_accuracy": 74.0,
            },
        )
        versions = {
            (mv.ml_model.slug, mv.precision): mv
            for mv in ModelVersion.objects.select_related("ml_model")
            .filter(ml_model__slug__in=LATENCY_MS)
            .exclude(version=INT8_BAD_VERSION)
        }
        runtime_versions = {rv.version: rv for rv in RuntimeVersion.objects.filter(runtime__slug="tflite")}
        delegates = {d.slug: d for d in Delegate.objects.filter(runtime__slug="tflite")}
        device_models = {d.slug: d for d in DeviceModel.objects.filter(slug__in=devices)}
        runs: list[BenchmarkRun] = []
        series_by_key: dict[str, BenchmarkSeries] = {}
        nightly = progress("nightly lab runs", days, "days")
        for day in range(days):
            runtime_version = [v for v, first in TFLITE_UPGRADES if day >= first * days // 120][-1]
            for device_slug in devices:
                for model_slug, by_precision in LATENCY_MS.items():
                    for precision, by_delegate in by_precision.items():
                        model_version = versions[(model_slug, precision)]
                        if (
                            model_slug == "mobilenet-v3-large"
                            and precision == "int8"
                            and day >= INT8_BAD_FROM_DAY * days // 120
                        ):
                            model_version = bad_int8
                        for delegate_slug, base in by_delegate.items():
                            config = {"threads": 4, "precision": precision, "batch": 1}
                            key = series_key_for(
                                ml_model_id=model_version.ml_model_id,
                                precision=precision,
                                runtime_id=delegates[delegate_slug].runtime_id,
                                delegate_id=delegates[delegate_slug].id,
                                device_model_id=device_models[device_slug].id,
                                config=config,
                            )
                            if key not in series_by_key:
                                series_by_key[key], _ = BenchmarkSeries.objects.get_or_create(
                                    key=key,
                                    defaults={
                                        "ml_model_id": model_version.ml_model_id,
                                        "precision": precision,
                                        "runtime_id": delegates[delegate_slug].runtime_id,
                                        "delegate": delegates[delegate_slug],
                                        "device_model": device_models[device_slug],
                                        "config": config,
                                    },
                                )
                            slow = GPU_SLOWDOWN_217 if delegate_slug == "gpu" and runtime_version == "2.17.0" else 1.0
                            mean = base * DEVICE_SPEED[device_slug] * slow * rng.gauss(1, NOISE_CV)
                            summary = summarize_samples([mean * rng.gauss(1, 0.04) for _ in range(SAMPLES_PER_RUN)])
                            accuracy = model_version.reference_accuracy
                            if model_version.version == INT8_BAD_VERSION:
                                accuracy -= INT8_ACCURACY_LOSS
                            size_mb = model_version.size_bytes / 2**20
                            measured = round(accuracy + rng.gauss(0, 0.05), 3) if accuracy else None
                            runs.append(
                                BenchmarkRun(
                                    series=series_by_key[key],
                                    model_version=model_version,
                                    runtime_version=runtime_versions[runtime_version],
                                    delegate=delegates[delegate_slug],
                                    device_model=device_models[device_slug],
                                    build=f"{BUILD_PREFIX}-{day:03d}",
                                    commit=f"{rng.getrandbits(40):010x}",
                                    config=config,
                                    environment={"os": "Android 15", "thermal": "nominal", "power": "performance"},
                                    status="done",
                                    source_format="json",
                                    ran_at=start + timedelta(days=day),
                                    processed_at=start + timedelta(days=day, minutes=5),
                                    init_ms=(40 + 8 * size_mb) * rng.gauss(1, NOISE_CV),
                                    first_inference_ms=mean * (1.6 if delegate_slug == "xnnpack" else 3.2),
                                    latency_count=summary.count,
                                    latency_mean_ms=summary.mean_ms,
                                    latency_std_ms=summary.std_ms,
                                    latency_min_ms=summary.min_ms,
                                    latency_max_ms=summary.max_ms,
                                    latency_p50_ms=summary.p50_ms,
                                    latency_p90_ms=summary.p90_ms,
                                    latency_p95_ms=summary.p95_ms,
                                    latency_p99_ms=summary.p99_ms,
                                    latency_samples_ms=[round(s, 4) for s in summary.samples_ms],
                                    throughput_per_s=1000 / summary.mean_ms,
                                    peak_memory_mb=(30 + 2.2 * size_mb) * rng.gauss(1, 0.005),
                                    accuracy_metric=model_version.accuracy_metric,
                                    accuracy_value=measured,
                                    accuracy_delta=None
                                    if measured is None
                                    else measured - model_version.reference_accuracy,
                                    accelerated_fraction=0.93
                                    if precision == "int8" and delegate_slug != "xnnpack"
                                    else 1.0,
                                )
                            )
            nightly.advance()
        BenchmarkRun.objects.bulk_create(runs, batch_size=500)
        BenchmarkOp.objects.bulk_create(
            [
                op
                for run in runs
                if run.model_version.ml_model.slug == "mobilenet-v3-large"
                for op in _ops_for(run=run, delegate=run.delegate.slug, precision=run.model_version.precision, rng=rng)
            ],
            batch_size=2000,
        )
        nightly.finish()
        detection = progress("regression detection", len(series_by_key), "series")
        regressions = 0
        for series in series_by_key.values():
            regressions += len(series_detect(series=series))
            detection.advance()
        detection.finish()
    imported = _import_fixtures(start=start + timedelta(days=days - 1))
    _pin_baselines(series_by_key.values())
    _push_lab_evidence([*series_by_key.values()], extra_runs=imported)
    stdout.write(
        f"   {len(runs)} nightly runs in {len(series_by_key)} series over {days} days, "
        f"{regressions} regression rows, {len(imported)} runs imported from fixtures"
    )


def _import_fixtures(*, start: datetime) -> list[BenchmarkRun]:
    """A few runs from the real-format fixtures committed under tests/benchmarks/fixtures (skipped when absent)."""
    imported = []
    for filename, source_format, model, model_version, delegate in FIXTURE_IMPORTS:
        path = FIXTURES / filename
        if not path.exists() or not ModelVersion.objects.filter(ml_model__slug=model, version=model_version).exists():
            continue
        identity = RunIdentity(
            model=model,
            model_version=model_version,
            runtime="tflite",
            runtime_version="2.17.0",
            delegate=delegate,
            device_model="google-pixel-8",
            build="lab-manual-upload",
            config={"threads": 4},
            ran_at=start,
        )
        imported.append(
            benchmark_run_import(
                identity=identity, source_format=source_format, data=path.read_bytes(), filename=filename, enqueue=False
            )
        )
    return imported


def _pin_baselines(series_list) -> None:
    for series in series_list:
        first = series.runs.order_by("ran_at").first()
        if series.delegate.slug == "gpu" and first is not None:
            series.baseline_run = first
            series.save(update_fields=["baseline_run"])


def _push_lab_evidence(series_list: list[BenchmarkSeries], *, extra_runs: list[BenchmarkRun]) -> None:
    latest_per_cell: dict[tuple, BenchmarkRun] = {}
    for run in BenchmarkRun.objects.filter(series__in=series_list).select_related("series").order_by("ran_at", "id"):
        latest_per_cell[(run.series_id, run.model_version_id, run.runtime_version_id)] = run
    runs = [*latest_per_cell.values(), *extra_runs]
    items = [lab_evidence_input(run=run) for run in runs]
    compat_services.compat_evidence_record(items=items, actor="lab demo seed")
