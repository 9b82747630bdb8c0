"""A release with known answers: raw sessions, crashes, lab runs and a regression on three paths of one version.

Paths of yolov8n 1.5.0 (tflite 2.16.1):
- gpu on Pixel 8 (tier 1, 50 ms): healthy, but an open crash group hit 2 of its devices (share 2 / pixels);
- gpu on Galaxy A54 (tier 2, 120 ms): p95 ~150 ms, over budget;
- cpu (XNNPACK) on Pixel 8: lab only, one successful run and an open lab regression.
Noise the verdict must ignore: sessions of 1.4.0 on the same path, sessions and crashes older than the window, a
resolved crash group.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from benchmarks.models import BenchmarkRun, BenchmarkSeries, Regression
from compat.models import CompatEntry, ModelVersion
from readiness.selectors import window_get
from telemetry.models import CrashGroup, CrashReport, InferenceSession
from telemetry.rollups.compute import rollup_hours_compute
from tests.telemetry.fleet_factories import Catalog, catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

IN_WINDOW_HOURS = (2, 26, 50, 74, 98, 122)  # hours before now: inside the trailing 7 days (6 sessions a device)
GALAXY_HOURS = (2, 20, 40, 60, 80, 100, 120, 140)
OLD_HOURS = 7 * 24 + 5  # outside it


@dataclass
class Release:
    c: Catalog
    now: datetime
    start: datetime
    end: datetime
    pixel_gpu: CompatEntry
    galaxy_gpu: CompatEntry
    pixel_cpu: CompatEntry
    open_group: CrashGroup
    run: BenchmarkRun
    regression: Regression
    samples: dict[int, list[float]]  # session id -> the latency samples it holds


def _crash(c, *, group, device, at, model_version=None, delegate=None):
    CrashReport.objects.create(
        event_id=uuid.uuid4(), device=device, session_id=f"s-{uuid.uuid4().hex[:8]}", group=group,
        fingerprint=group.fingerprint, device_model=device.device_model, model_version=model_version or c.v2,
        runtime_version=c.tflite_216, delegate=delegate or c.gpu, occurred_at=at, received_at=at, kind="native",
        signal="SIGSEGV",
    )  # fmt: skip


def release_make(*, scale: int = 1, seed: int = 3) -> Release:
    rng = random.Random(seed)
    c = catalog_make()
    now = timezone.now()
    start, end = window_get(now)
    pixels = [device_make(c, uid=f"pixel-{i:03d}") for i in range(6 * scale)]
    galaxies = [device_make(c, uid=f"galaxy-{i:03d}", device_model=c.galaxy) for i in range(4 * scale)]
    kept: dict[int, list[float]] = {}
    for device in pixels:
        for hours in IN_WINDOW_HOURS:
            samples = [round(rng.uniform(8, 40), 2) for _ in range(rng.randrange(5, 30))]
            session = session_make(
                c, device=device, at=now - timedelta(hours=hours), samples=samples, model_version=c.v2,
                rss=rng.uniform(150, 250), errors=rng.randrange(2) if hours == 26 else 0,
                accelerated=rng.choice([1.0, 0.99, None]), crashed=rng.random() < 0.05,
            )  # fmt: skip
            kept[session.pk] = samples
        session_make(c, device=device, at=now - timedelta(hours=OLD_HOURS), samples=[900.0], model_version=c.v2)
        session_make(c, device=device, at=now - timedelta(hours=5), samples=[700.0], model_version=c.v1)
    for device in galaxies:
        for hours in GALAXY_HOURS:
            samples = [round(rng.uniform(130, 160), 2) for _ in range(rng.randrange(5, 30))]
            session = session_make(c, device=device, at=now - timedelta(hours=hours), samples=samples,
                                   model_version=c.v2, rss=rng.uniform(150, 250))  # fmt: skip
            kept[session.pk] = samples
    seen = now - timedelta(hours=3)
    open_group = CrashGroup.objects.create(fingerprint="a" * 64, title="SIGSEGV in gpu delegate", kind="native",
                                           first_seen_at=now - timedelta(hours=OLD_HOURS), last_seen_at=seen)  # fmt: skip
    for device in pixels[: 2 * scale]:
        _crash(c, group=open_group, device=device, at=seen)
        _crash(c, group=open_group, device=device, at=seen + timedelta(minutes=1))
    _crash(c, group=open_group, device=pixels[2], at=now - timedelta(hours=OLD_HOURS))  # before the window
    _crash(c, group=open_group, device=pixels[3], at=seen, model_version=c.v1)  # another version
    resolved = CrashGroup.objects.create(fingerprint="b" * 64, title="fixed", kind="native", status="resolved",
                                         first_seen_at=seen, last_seen_at=seen)  # fmt: skip
    _crash(c, group=resolved, device=pixels[4], at=seen)
    # Only the hours that hold rows (a week of empty hours would cost the suite seconds per test).
    rollup_hours_compute(hours=[now - timedelta(hours=h) for h in {*IN_WINDOW_HOURS, *GALAXY_HOURS, OLD_HOURS, 5, 3}])

    pixel_cpu = CompatEntry.objects.create(model_version=c.v2, runtime_version=c.tflite_216, delegate=c.cpu,
                                           device_model=c.pixel)  # fmt: skip
    series = BenchmarkSeries.objects.create(key="k" * 64, ml_model=c.yolo, runtime=c.tflite, delegate=c.cpu,
                                            device_model=c.pixel)  # fmt: skip
    ident = dict(series=series, model_version=c.v2, runtime_version=c.tflite_216, delegate=c.cpu, device_model=c.pixel)
    BenchmarkRun.objects.create(**ident, ran_at=now - timedelta(days=3), latency_p95_ms=20.0, status="failed",
                                error="old failure")  # fmt: skip
    run = BenchmarkRun.objects.create(**ident, ran_at=now - timedelta(days=2), latency_p95_ms=31.0,
                                      peak_memory_mb=90.0)  # fmt: skip
    BenchmarkRun.objects.create(**ident, ran_at=now - timedelta(days=400), latency_p95_ms=999.0)  # outside lab window
    for day in range(scale - 1):  # more runs before the newest one
        BenchmarkRun.objects.create(**ident, ran_at=now - timedelta(days=5 + day), latency_p95_ms=30.0)
    for i in range(scale - 1):  # more versions, each with one cell
        extra = ModelVersion.objects.create(ml_model=c.yolo, version=f"2.{i}")
        CompatEntry.objects.create(model_version=extra, runtime_version=c.tflite_216, delegate=c.gpu,
                                   device_model=c.pixel)  # fmt: skip
    regression = Regression.objects.create(
        series=series, metric="latency_p95_ms", change_run=run, before_value=24, after_value=31, change_pct=29.2,
        statistic=5, p_value=0.001, confidence=0.99, method="test",
    )  # fmt: skip
    cells = CompatEntry.objects.filter(model_version=c.v2, runtime_version=c.tflite_216)
    return Release(
        c=c, now=now, start=start, end=end, pixel_gpu=cells.get(delegate=c.gpu, device_model=c.pixel),
        galaxy_gpu=cells.get(delegate=c.gpu, device_model=c.galaxy), pixel_cpu=pixel_cpu, open_group=open_group,
        run=run, regression=regression, samples=kept,
    )  # fmt: skip


@pytest.fixture
def release(db):
    return release_make()


def raw_sessions(release: Release, entry: CompatEntry) -> list[InferenceSession]:
    """The raw sessions of one path in the window: what the verdict's field figures must reduce to."""
    return list(
        InferenceSession.objects.filter(
            model_version=entry.model_version, runtime_version=entry.runtime_version, delegate=entry.delegate,
            device_model=entry.device_model, started_at__gte=release.start, started_at__lt=release.end,
        )
    )  # fmt: skip
