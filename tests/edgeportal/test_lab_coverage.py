"""Lab coverage against a brute-force count from raw sessions and raw lab runs (planted answers)."""

from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone

from benchmarks.importers.base import ImportedRun, LatencySummary
from benchmarks.models import BenchmarkRun
from benchmarks.services import RunIdentity, benchmark_run_create
from compat.models import RuntimeVersion
from labfield.coverage import lab_coverage
from telemetry.kpi.buckets import hour_floor
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

pytestmark = pytest.mark.django_db


def lab_run(c, *, model_version, device_model, delegate, days_ago, status="done", runtime_version="2.16.1"):
    identity = RunIdentity(
        model="yolov8n", model_version=model_version.version, runtime="tflite", runtime_version=runtime_version,
        delegate=delegate.slug, device_model=device_model.slug, build="lab", config={},
        ran_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip
    latency = LatencySummary(count=10, mean_ms=10.0, std_ms=0.1, min_ms=9.0, max_ms=11.0)
    run = benchmark_run_create(
        identity=identity, result=ImportedRun(source_format="json", latency=latency), enqueue=False
    )
    if status != "done":
        BenchmarkRun.objects.filter(pk=run.pk).update(status=status)
    return run


@pytest.fixture
def fleet():
    """Pixel × 1.4.0 on gpu: 3 devices; Galaxy × 1.5.0 on cpu: 2 devices; Pixel × 1.5.0 on gpu: 1 device."""
    c = catalog_make()
    end = hour_floor(timezone.now())
    start = end - timedelta(hours=20)
    plan = [(c.pixel, c.v1, c.gpu, 3), (c.galaxy, c.v2, c.cpu, 2), (c.pixel, c.v2, c.gpu, 1)]
    for device_model, version, delegate, count in plan:
        for _ in range(count):
            device = device_make(c, device_model=device_model)
            for hour in range(1, 20, 6):
                session_make(c, device=device, at=end - timedelta(hours=hour), samples=[10.0], model_version=version,
                             delegate=delegate)  # fmt: skip
    rollup_range_compute(start=start - timedelta(hours=1), end=end + timedelta(hours=1))
    c.start, c.end = start - timedelta(hours=1), end + timedelta(hours=1)
    return c


def brute_force(c, *, days: int = 90) -> tuple[float, int, int]:
    """From raw rows: devices per active pair, and the pairs with a done lab run on a (runtime, delegate) they use."""
    devices, paths = defaultdict(set), defaultdict(set)
    for s in InferenceSession.objects.filter(started_at__gte=c.start, started_at__lt=c.end).select_related(
        "runtime_version"
    ):
        pair = (s.model_version_id, s.device_model_id)
        devices[pair].add(s.device_id)
        paths[pair].add((s.runtime_version.runtime_id, s.delegate_id))
    since = timezone.now() - timedelta(days=days)
    covered = {
        (r.model_version_id, r.device_model_id)
        for r in BenchmarkRun.objects.filter(status="done", ran_at__gte=since).select_related("runtime_version")
        if (r.runtime_version.runtime_id, r.delegate_id) in paths.get((r.model_version_id, r.device_model_id), ())
    }
    total = sum(len(d) for d in devices.values())
    return sum(len(devices[p]) for p in covered) / total, len(covered), len(devices)


def test_coverage_is_device_weighted_and_needs_a_matching_runtime_and_delegate(fleet):
    c = fleet
    RuntimeVersion.objects.create(runtime=c.tflite, version="2.17.0")
    lab_run(c, model_version=c.v1, device_model=c.pixel, delegate=c.gpu, days_ago=3, runtime_version="2.17.0")
    lab_run(c, model_version=c.v2, device_model=c.galaxy, delegate=c.gpu, days_ago=3)  # the field runs cpu: no match
    lab_run(c, model_version=c.v2, device_model=c.pixel, delegate=c.gpu, days_ago=200)  # too old
    lab_run(c, model_version=c.v2, device_model=c.pixel, delegate=c.gpu, days_ago=1, status="failed")  # not a success
    coverage = lab_coverage(start=c.start, end=c.end, filters={})
    share, covered, pairs = brute_force(c)
    assert (coverage.share, coverage.covered_pairs, coverage.pairs) == (pytest.approx(share), covered, pairs)
    assert (coverage.share, coverage.covered_devices, coverage.devices) == (pytest.approx(3 / 6), 3, 6)
    assert [(g.model_version_id, g.device_model_id, g.devices) for g in coverage.gaps] == [
        (c.v2.id, c.galaxy.id, 2), (c.v2.id, c.pixel.id, 1),
    ]  # fmt: skip


def test_filters_narrow_the_pairs_and_no_activity_is_no_figure(fleet):
    c = fleet
    lab_run(c, model_version=c.v2, device_model=c.galaxy, delegate=c.cpu, days_ago=1)
    galaxy = lab_coverage(start=c.start, end=c.end, filters={"device_model": "samsung-galaxy-a54"})
    assert (galaxy.share, galaxy.pairs, galaxy.devices) == (1.0, 1, 2)
    later = lab_coverage(start=c.end + timedelta(days=1), end=c.end + timedelta(days=2), filters={})
    assert (later.share, later.pairs) == (None, 0)
