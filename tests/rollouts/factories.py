"""Small factories for rollout tests: a catalog, devices, and raw session rows for an arm."""

import itertools
import uuid
from datetime import datetime

import numpy as np
from django.utils import timezone

from compat.models import Delegate, DelegateKind, DeviceModel, MLModel, ModelVersion, OsFamily, Runtime, RuntimeVersion
from edgeportal_client.histogram import LatencyHistogram
from telemetry.models import Device, InferenceSession

_seq = itertools.count(1)


class Catalog:
    """Two device models (tiers 1 and 2), yolov8n 1.4.0 / 1.5.0 / 1.6.0, mobilenet 1.0 / 2.0, tflite gpu."""


def catalog_make() -> Catalog:
    c = Catalog()
    c.pixel = DeviceModel.objects.create(
        slug="google-pixel-8", vendor="Google", name="Pixel 8", os_family=OsFamily.ANDROID, tier=1, accelerators=["gpu"]
    )
    c.galaxy = DeviceModel.objects.create(
        slug="samsung-galaxy-a54", vendor="Samsung", name="Galaxy A54", os_family=OsFamily.ANDROID, tier=2
    )
    c.yolo = MLModel.objects.create(slug="yolov8n", name="YOLOv8n")
    c.v1 = ModelVersion.objects.create(ml_model=c.yolo, version="1.4.0")
    c.v2 = ModelVersion.objects.create(ml_model=c.yolo, version="1.5.0")
    c.v3 = ModelVersion.objects.create(ml_model=c.yolo, version="1.6.0")
    c.mobilenet = MLModel.objects.create(slug="mobilenet-v3", name="MobileNet v3")
    c.m1 = ModelVersion.objects.create(ml_model=c.mobilenet, version="1.0")
    c.m2 = ModelVersion.objects.create(ml_model=c.mobilenet, version="2.0")
    c.tflite = Runtime.objects.create(slug="tflite", name="TFLite")
    c.tflite_216 = RuntimeVersion.objects.create(runtime=c.tflite, version="2.16.1")
    c.gpu = Delegate.objects.create(runtime=c.tflite, slug="gpu", name="GPU", kind=DelegateKind.GPU)
    return c


def devices_make(c: Catalog, *, count: int, device_model=None, prefix: str = "dev") -> list[Device]:
    return Device.objects.bulk_create(
        Device(uid=f"{prefix}-{next(_seq):06d}", device_model=device_model or c.pixel, os_version="Android 15",
               app_version="3.2.1")
        for _ in range(count)
    )  # fmt: skip


def sessions_make(
    c: Catalog,
    *,
    devices: list[Device],
    version: ModelVersion,
    per_device: int,
    started_at: datetime,
    rng: np.random.Generator,
    latency_ms: float = 40.0,
    crash_rate: float = 0.005,
    errors_per_inference: float = 0.001,
    inferences: int = 100,
) -> int:
    """`per_device` sessions on each device: log-normal latency, Bernoulli crashes, Poisson errors."""
    rows = []
    for device in devices:
        for _ in range(per_device):
            samples = np.exp(rng.normal(np.log(latency_ms), 0.15, inferences))
            histogram = LatencyHistogram.from_samples(samples.tolist())
            rows.append(
                InferenceSession(
                    event_id=uuid.uuid4(), device=device, session_id=f"s-{next(_seq)}", device_model_id=device.device_model_id,
                    model_version=version, runtime_version=c.tflite_216, delegate=c.gpu, app_version=device.app_version,
                    os_version=device.os_version, started_at=started_at, received_at=timezone.now(), duration_s=60,
                    inferences=inferences, errors=int(rng.poisson(inferences * errors_per_inference)),
                    latency_histogram={"gamma": 1.0202020202020203, "counts": {str(k): v for k, v in histogram.counts.items()}},
                    accelerated_fraction=0.95, peak_rss_mb=float(200 * np.exp(rng.normal(0, 0.1))),
                    has_crash=bool(rng.random() < crash_rate),
                )
            )  # fmt: skip
    InferenceSession.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
