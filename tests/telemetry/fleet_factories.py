"""Small factories for fleet, triage and alert tests: a catalog, devices, crash groups with crashes."""

import dataclasses
import itertools
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from compat.models import Delegate, DelegateKind, DeviceModel, MLModel, ModelVersion, OsFamily, Runtime, RuntimeVersion
from telemetry.models import CrashGroup, CrashGroupDevice, CrashReport, Device
from telemetry.rollups.compute import rollup_hours_compute

_seq = itertools.count(1)


class Catalog:
    """Handles to one small catalog: two device models, one model with two versions, tflite gpu/cpu."""


def catalog_make() -> Catalog:
    c = Catalog()
    c.pixel = DeviceModel.objects.create(
        slug="google-pixel-8", vendor="Google", name="Pixel 8", os_family=OsFamily.ANDROID, tier=1,
        accelerators=["gpu", "npu"], memory_budget_mb=400,
    )  # fmt: skip
    c.galaxy = DeviceModel.objects.create(
        slug="samsung-galaxy-a54", vendor="Samsung", name="Galaxy A54", os_family=OsFamily.ANDROID, tier=2,
        accelerators=["gpu"], memory_budget_mb=300,
    )  # fmt: skip
    c.yolo = MLModel.objects.create(slug="yolov8n", name="YOLOv8n")
    c.v1 = ModelVersion.objects.create(ml_model=c.yolo, version="1.4.0")
    c.v2 = ModelVersion.objects.create(ml_model=c.yolo, version="1.5.0")
    c.tflite = Runtime.objects.create(slug="tflite", name="TFLite")
    c.tflite_216 = RuntimeVersion.objects.create(runtime=c.tflite, version="2.16.1")
    c.gpu = Delegate.objects.create(runtime=c.tflite, slug="gpu", name="GPU", kind=DelegateKind.GPU)
    c.cpu = Delegate.objects.create(runtime=c.tflite, slug="cpu", name="XNNPACK", kind=DelegateKind.CPU)
    return c


def device_make(c: Catalog, *, uid: str | None = None, device_model=None, **extra) -> Device:
    return Device.objects.create(
        uid=uid or f"dev-{next(_seq):06d}",
        device_model=device_model or c.pixel,
        os_version=extra.pop("os_version", "Android 15"),
        app_version=extra.pop("app_version", "3.2.1"),
        **extra,
    )


def crash_group_make(
    c: Catalog,
    *,
    devices: list[Device],
    crashes_per_device: int = 1,
    at: datetime | None = None,
    title: str = "SIGSEGV in gpu delegate",
    delegate=None,
    model_version=None,
    rollup: bool = True,
    **extra,
) -> CrashGroup:
    """A group with real CrashReport rows and exact affected-device rows, counters consistent.

    With `rollup`, their hours are rolled up as after an ingest (the crash group page reads the rollups).
    """
    at = at or timezone.now() - timedelta(hours=2)
    group = CrashGroup.objects.create(
        fingerprint=uuid.uuid4().hex, title=title, culprit="tflite::gpu::Run", kind="native",
        first_seen_at=at, last_seen_at=at, event_count=len(devices) * crashes_per_device, device_count=len(devices),
        **extra,
    )  # fmt: skip
    for device in devices:
        CrashGroupDevice.objects.create(group=group, device=device, first_seen_at=at)
        for i in range(crashes_per_device):
            CrashReport.objects.create(
                event_id=uuid.uuid4(), device=device, session_id=f"s-{next(_seq)}", group=group,
                fingerprint=group.fingerprint, device_model=device.device_model,
                model_version=model_version or c.v1, runtime_version=c.tflite_216, delegate=delegate or c.gpu,
                app_version=device.app_version, os_version=device.os_version, occurred_at=at + timedelta(minutes=i),
                received_at=at, kind="native", signal="SIGSEGV", message="Fatal signal 11",
                frames=[{"function": "tflite::gpu::Run", "module": "libgpu.so", "in_app": False}],
            )  # fmt: skip
    if rollup:
        rollup_hours_compute(hours=[at + timedelta(minutes=i) for i in range(crashes_per_device)], push_evidence=False)
    return group


def assert_same_kpis(got, want) -> None:
    """Equal KPIs, floats to 1e-9: a page merges per-cohort totals in Python, the selector in SQL,
    and float sums in another order may differ in the last ulp."""
    got, want = dataclasses.asdict(got), dataclasses.asdict(want)
    assert got.keys() == want.keys()
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-9), name
        else:
            assert got[name] == value, name
