"""Compat fixtures: a small catalog and a helper that pushes evidence through the service, as other apps do."""

import pytest

from compat.models import (
    Delegate,
    DelegateKind,
    DeviceModel,
    EvidenceSource,
    MLModel,
    ModelFormat,
    ModelTask,
    ModelVersion,
    OsFamily,
    Precision,
    Runtime,
    RuntimeVersion,
    Tier,
)
from compat.services import EvidenceInput, compat_evidence_record


class Catalog:
    """Handles to the rows of the small test catalog."""


@pytest.fixture
def catalog(db):
    c = Catalog()
    c.pixel = DeviceModel.objects.create(
        slug="google-pixel-8",
        vendor="Google",
        name="Pixel 8",
        soc="Tensor G3",
        os_family=OsFamily.ANDROID,
        ram_mb=8192,
        accelerators=["gpu", "npu"],
        tier=Tier.TIER_1,
        memory_budget_mb=400,
    )
    c.galaxy = DeviceModel.objects.create(
        slug="samsung-galaxy-a54",
        vendor="Samsung",
        name="Galaxy A54",
        soc="Exynos 1380",
        os_family=OsFamily.ANDROID,
        ram_mb=6144,
        accelerators=["gpu", "npu"],
        tier=Tier.TIER_2,
        memory_budget_mb=300,
    )
    c.jetson = DeviceModel.objects.create(
        slug="nvidia-jetson-orin-nano",
        vendor="NVIDIA",
        name="Jetson Orin Nano",
        soc="Orin",
        os_family=OsFamily.LINUX,
        ram_mb=8192,
        accelerators=["gpu"],
        tier=Tier.TIER_1,
        memory_budget_mb=2048,
    )
    c.tflite = Runtime.objects.create(slug="tflite", name="TFLite / LiteRT")
    c.ort = Runtime.objects.create(slug="onnxruntime", name="ONNX Runtime")
    c.tflite_216 = RuntimeVersion.objects.create(runtime=c.tflite, version="2.16.1")
    c.tflite_217 = RuntimeVersion.objects.create(runtime=c.tflite, version="2.17.0")
    c.ort_118 = RuntimeVersion.objects.create(runtime=c.ort, version="1.18.0")
    c.xnnpack = Delegate.objects.create(runtime=c.tflite, slug="xnnpack", name="XNNPACK", kind=DelegateKind.CPU)
    c.gpu = Delegate.objects.create(runtime=c.tflite, slug="gpu", name="GPU delegate", kind=DelegateKind.GPU)
    c.cuda = Delegate.objects.create(runtime=c.ort, slug="cuda", name="CUDA EP", kind=DelegateKind.GPU)
    c.mobilenet = MLModel.objects.create(
        slug="mobilenet-v3-large", name="MobileNetV3-Large", task=ModelTask.CLASSIFICATION
    )
    c.yolo = MLModel.objects.create(slug="yolov8n", name="YOLOv8n", task=ModelTask.DETECTION)
    c.mnv3_int8 = ModelVersion.objects.create(
        ml_model=c.mobilenet, version="1.0-int8", precision=Precision.INT8, format=ModelFormat.TFLITE
    )
    c.mnv3_fp32 = ModelVersion.objects.create(
        ml_model=c.mobilenet, version="1.0-fp32", precision=Precision.FP32, format=ModelFormat.TFLITE
    )
    c.yolo_fp16 = ModelVersion.objects.create(
        ml_model=c.yolo, version="8.1-fp16", precision=Precision.FP16, format=ModelFormat.ONNX
    )
    return c


def evidence(
    *,
    model_version,
    runtime_version,
    delegate,
    device_model,
    source=EvidenceSource.FIELD,
    source_ref="field:30d",
    sample_size=500,
    **figures,
) -> EvidenceInput:
    """An EvidenceInput for catalog rows (not ids), healthy unless figures say otherwise."""
    return EvidenceInput(
        model_version_id=model_version.id,
        runtime_version_id=runtime_version.id,
        delegate_id=delegate.id,
        device_model_id=device_model.id,
        source=source,
        source_ref=source_ref,
        sample_size=sample_size,
        **figures,
    )


@pytest.fixture
def push():
    """Pushes evidence for one cell through the service and returns the entry."""

    def push_one(*, actor="field rollup", **kwargs):
        return compat_evidence_record(items=[evidence(**kwargs)], actor=actor)[0]

    return push_one
