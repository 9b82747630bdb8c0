"""Catalog and clients for the benchmarks tests."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from benchmarks.importers.base import ImportedRun, LatencySummary, OpProfile
from benchmarks.services import RunExtras, RunIdentity, benchmark_run_create
from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion

REPO = Path(__file__).resolve().parents[2]
REPO_FIXTURES = Path(__file__).resolve().parent / "fixtures"
ORT_PROFILE = REPO_FIXTURES / "onnxruntime_profile_tinymlp_cpu.json"


@pytest.fixture
def catalog(db):
    pixel = DeviceModel.objects.create(
        slug="google-pixel-8", vendor="Google", name="Pixel 8", os_family="android", tier=1, accelerators=["gpu", "npu"]
    )
    tflite = Runtime.objects.create(slug="tflite", name="TFLite")
    ort = Runtime.objects.create(slug="onnxruntime", name="ONNX Runtime")
    RuntimeVersion.objects.create(runtime=tflite, version="2.16.1")
    RuntimeVersion.objects.create(runtime=ort, version="1.31.1")
    Delegate.objects.create(runtime=tflite, slug="gpu", name="GPU delegate", kind="gpu")
    Delegate.objects.create(runtime=tflite, slug="xnnpack", name="XNNPACK", kind="cpu")
    Delegate.objects.create(runtime=ort, slug="cpu", name="CPU EP", kind="cpu")
    mobilenet = MLModel.objects.create(slug="mobilenet-v3", name="MobileNet v3", task="classification")
    ModelVersion.objects.create(
        ml_model=mobilenet,
        version="1.0",
        precision="fp32",
        accuracy_metric="top1",
        reference_accuracy=0.756,
        size_bytes=22 * 2**20,
    )
    ModelVersion.objects.create(
        ml_model=mobilenet,
        version="1.0-int8",
        precision="int8",
        accuracy_metric="top1",
        reference_accuracy=0.748,
        size_bytes=6 * 2**20,
    )
    tinymlp = MLModel.objects.create(slug="tinymlp", name="Tiny MLP")
    ModelVersion.objects.create(ml_model=tinymlp, version="1", format="onnx")
    return {"device": pixel, "tflite": tflite, "ort": ort}


@pytest.fixture
def write_client(make_api_key):
    _, raw_key = make_api_key(scopes=["benchmarks:write"], name="lab ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


START = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


def make_run(
    *,
    day: int,
    mean: float,
    model_version: str = "1.0",
    delegate: str = "gpu",
    accuracy: float | None = None,
    samples: list[float] | None = None,
    ops: list[OpProfile] | None = None,
    enqueue: bool = False,
    **extra,
):
    """A done run of mobilenet-v3 on tflite/<delegate>, ran `day` days after START (no task unless enqueue)."""
    latency = LatencySummary(
        count=50,
        mean_ms=mean,
        std_ms=mean * 0.01,
        min_ms=mean * 0.97,
        max_ms=mean * 1.05,
        p50_ms=mean,
        p95_ms=mean * 1.03,
        samples_ms=samples or [],
    )
    identity = RunIdentity(
        model="mobilenet-v3",
        model_version=model_version,
        runtime="tflite",
        runtime_version="2.16.1",
        delegate=delegate,
        device_model="google-pixel-8",
        build=f"nightly-{day}",
        config={"threads": 4},
        ran_at=START + timedelta(days=day),
    )
    result = ImportedRun(
        source_format="json",
        latency=latency,
        init_ms=200.0,
        peak_memory_mb=80.0,
        throughput_per_s=1000 / mean,
        ops=ops or [],
        **extra,
    )
    return benchmark_run_create(
        identity=identity,
        result=result,
        extras=RunExtras(accuracy_metric="top1", accuracy_value=accuracy),
        enqueue=enqueue,
    )
