"""A test fleet with planted answers for the lab-vs-field figures (docs/lab-field.md), and an independent reckoning
of every figure from the raw rows (sessions, their planted samples, lab runs) — no rollup or labfield code."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median

import numpy as np
import pytest
from django.utils import timezone

from benchmarks.importers.base import ImportedRun, LatencySummary
from benchmarks.models import Regression
from benchmarks.services import RunIdentity, benchmark_run_create
from compat.models import CompatEntry
from telemetry.kpi.buckets import hour_floors
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_hours_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

THROTTLED = {"serious", "critical"}  # the default LAB_FIELD_THROTTLED_STATES that the fleet uses
MIN_SESSIONS = 10


@dataclass
class Planted:
    """Handles, and what was planted: per cell, the (thermal state, OS version, samples, started_at) of each session."""

    c: object
    cells: dict = field(default_factory=dict)  # name -> (model_version, runtime_version, delegate, device_model)
    sessions: dict = field(default_factory=lambda: defaultdict(list))
    lab: dict = field(default_factory=lambda: defaultdict(list))  # name -> [(days ago, p50, p95)] of done runs
    regressions: dict = field(default_factory=dict)

    def key(self, name):
        return tuple(obj.pk for obj in self.cells[name])

    def entry(self, name):
        mv, rv, dl, dm = self.cells[name]
        return CompatEntry.objects.get(model_version=mv, runtime_version=rv, delegate=dl, device_model=dm)


def lab_run(planted, name, *, p50, p95, days_ago, status="done"):
    mv, rv, dl, dm = planted.cells[name]
    identity = RunIdentity(
        model=mv.ml_model.slug, model_version=mv.version, runtime=rv.runtime.slug, runtime_version=rv.version,
        delegate=dl.slug, device_model=dm.slug, build=f"lab-{days_ago}", config={},
        ran_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip
    latency = LatencySummary(count=100, mean_ms=p50, p50_ms=p50, p95_ms=p95)
    run = benchmark_run_create(
        identity=identity, result=ImportedRun(source_format="json", latency=latency), enqueue=False
    )
    if status == "done":
        planted.lab[name].append((days_ago, p50, p95))
    else:
        type(run).objects.filter(pk=run.pk).update(status=status)
    return run


def field_sessions(planted, name, *, devices, per_device, samples, thermal="nominal", days_ago=1):
    mv, rv, dl, dm = planted.cells[name]
    at = timezone.now() - timedelta(days=days_ago, minutes=5)
    for device in devices:
        for i in range(per_device):
            started = at - timedelta(minutes=i)
            session = session_make(planted.c, device=device, at=started, samples=samples, model_version=mv, delegate=dl)
            InferenceSession.objects.filter(pk=session.pk).update(thermal_state=thermal)
            planted.sessions[name].append((thermal, device.os_version, samples, started, device.pk))


def regression_on(planted, name, *, run):
    regression = Regression.objects.create(
        series=run.series, metric="latency_p95_ms", change_run=run, before_value=10.0, after_value=12.0,
        change_pct=20.0, statistic=5.0, p_value=0.001, confidence=0.99, method="test",
    )  # fmt: skip
    planted.regressions[name] = regression
    return regression


@pytest.fixture
def planted(db, settings):
    """Cells (model version × tflite 2.16.1 × delegate × device model):

    - hot: Pixel × 1.4.0 × gpu. Lab p95 20 ms (median of 19/20/21; p50 10). Field, last 7 days: 40 sessions at full
      speed whose p95 is 20 ms, 12 throttled sessions ("serious", "Critical") at 2.3× (23/46 ms), 2 with no thermal
      state; 5 sessions 20 days ago (30-day window only). Only the throttled part is flagged.
    - slow: Pixel × 1.5.0 × gpu. Lab p95 10 ms; field p95 20 ms over 15 sessions: flagged (2×).
    - crowd: Galaxy × 1.4.0 × gpu. 120 active devices; an open regression at its lab run.
    - lab_only: Galaxy × 1.5.0 × cpu. A lab run and a regression, no field sessions.
    - field_only: Galaxy × 1.4.0 × cpu. Field sessions, no lab run.
    """
    settings.LAB_FIELD_MIN_SESSIONS = MIN_SESSIONS
    c = catalog_make()
    p = Planted(c=c)
    rv = c.tflite_216
    p.cells = {
        "hot": (c.v1, rv, c.gpu, c.pixel), "slow": (c.v2, rv, c.gpu, c.pixel), "crowd": (c.v1, rv, c.gpu, c.galaxy),
        "lab_only": (c.v2, rv, c.cpu, c.galaxy), "field_only": (c.v1, rv, c.cpu, c.galaxy),
    }  # fmt: skip
    for p50, p95, days_ago in ((10.0, 19.0, 3), (10.0, 20.0, 2), (11.0, 21.0, 1)):
        lab_run(p, "hot", p50=p50, p95=p95, days_ago=days_ago)
    lab_run(p, "hot", p50=50.0, p95=90.0, days_ago=1, status="failed")  # not a success: ignored
    lab_run(p, "hot", p50=1.0, p95=1.0, days_ago=200)  # too old: ignored
    lab_run(p, "slow", p50=5.0, p95=10.0, days_ago=1)
    p.runs = {"crowd": lab_run(p, "crowd", p50=8.0, p95=12.0, days_ago=1)}
    p.runs["lab_only"] = lab_run(p, "lab_only", p50=8.0, p95=12.0, days_ago=1)

    pixels = [device_make(c, device_model=c.pixel, os_version=f"Android {14 + i % 2}") for i in range(8)]
    full_speed = [10.0] * 18 + [20.0] * 2
    field_sessions(p, "hot", devices=pixels, per_device=3, samples=full_speed, thermal="nominal")
    field_sessions(p, "hot", devices=pixels[:4], per_device=4, samples=full_speed, thermal="fair")
    field_sessions(p, "hot", devices=pixels[:4], per_device=2, samples=[23.0] * 18 + [46.0] * 2, thermal="serious")
    field_sessions(p, "hot", devices=pixels[4:], per_device=1, samples=[23.0] * 18 + [46.0] * 2, thermal="Critical")
    field_sessions(p, "hot", devices=pixels[:2], per_device=1, samples=full_speed, thermal="")
    field_sessions(p, "hot", devices=pixels[:5], per_device=1, samples=[10.0] * 20, days_ago=20)
    field_sessions(p, "slow", devices=pixels[:3], per_device=5, samples=[10.0] * 18 + [20.0] * 2)
    galaxies = [device_make(c, device_model=c.galaxy, os_version="Android 15") for _ in range(121)]
    field_sessions(p, "crowd", devices=galaxies[:120], per_device=1, samples=[12.0] * 5)
    field_sessions(p, "crowd", devices=galaxies[120:], per_device=1, samples=[12.0] * 5, days_ago=9)  # too old
    field_sessions(p, "field_only", devices=galaxies[:2], per_device=1, samples=[30.0] * 5)
    rollup_hours_compute(hours=hour_floors(InferenceSession.objects.values_list("started_at", flat=True)))
    for name in ("hot", "slow", "crowd", "lab_only", "field_only"):
        mv, rv_, dl, dm = p.cells[name]
        CompatEntry.objects.get_or_create(model_version=mv, runtime_version=rv_, delegate=dl, device_model=dm)
    regression_on(p, "crowd", run=p.runs["crowd"])
    regression_on(p, "lab_only", run=p.runs["lab_only"])
    return p


# -- the independent reckoning -----------------------------------------------------------------------------------


def window_start(days):
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def quantiles(samples):
    """p50/p95 at rank floor(q·(n−1)) of the sorted samples (the histogram's convention, read back within 1 %)."""
    if not samples:
        return None, None
    values = np.sort(np.array(samples))
    return tuple(float(values[int(q * (len(values) - 1))]) for q in (0.5, 0.95))


def expected_field(planted, name, *, days=7, where=lambda thermal, os_version: True):
    """(sessions, devices, p50, p95) of the planted sessions of a cell in the window."""
    since = window_start(days)
    chosen = [s for s in planted.sessions[name] if s[3] >= since and where(s[0], s[1])]
    samples = [x for s in chosen for x in s[2]]
    return (len(chosen), len({s[4] for s in chosen}), *quantiles(samples))


def expected_lab(planted, name, *, days=90, runs=5):
    """Medians of p50 and p95 over the latest ``runs`` done runs of the last ``days`` days."""
    latest = sorted(run for run in planted.lab[name] if run[0] <= days)[:runs]
    return median(run[1] for run in latest), median(run[2] for run in latest)


def is_throttled(thermal):
    return thermal.lower() in THROTTLED


def expected_population(planted, name):
    """(active devices, sessions per day, fleet share) from raw sessions over the last 7 UTC days."""
    since = window_start(7)
    mv, rv, dl, dm = planted.cells[name]
    recent = InferenceSession.objects.filter(started_at__gte=since)
    cell = recent.filter(model_version=mv, runtime_version=rv, delegate=dl, device_model=dm)
    fleet = len(set(recent.values_list("device_id", flat=True)))
    devices = len(set(cell.values_list("device_id", flat=True)))
    return devices, cell.count() / 7, devices / fleet


def more_cells(planted, *, count=3):
    """``count`` more cells with a lab run and field sessions (new device models): list reads must not grow."""
    from compat.models import DeviceModel, OsFamily

    c = planted.c
    for i in range(count):
        device_model = DeviceModel.objects.create(
            slug=f"extra-{i}", vendor="Extra", name=f"Extra {i}", os_family=OsFamily.ANDROID, tier=2
        )
        name = f"extra-{i}"
        planted.cells[name] = (c.v1, c.tflite_216, c.gpu, device_model)
        lab_run(planted, name, p50=5.0, p95=10.0, days_ago=1)
        field_sessions(planted, name, devices=[device_make(c, device_model=device_model)], per_device=2, samples=[9.0])
    rollup_hours_compute(hours=hour_floors(InferenceSession.objects.values_list("started_at", flat=True)))
