"""A test fleet with planted lab-coverage answers, and the independent reckoning of every figure from raw rows.

Pairs (model version × device model), sessions 1 day ago, lab runs on tflite 2.16.1:
- A  1.4.0 × Pixel   gpu, 4 devices; a done gpu run 3 days ago: lab-tested.
- B  1.4.0 × Galaxy  cpu, 3 devices; a done run on gpu (a delegate the pair does not run): a gap.
- C  1.5.0 × Pixel   gpu, 2 devices; a done gpu run 200 days ago (outside LAB_COVERAGE_DAYS) and a failed one: a gap.
- D  1.5.0 × Galaxy  cpu (3 devices × 2 sessions) and gpu (2 devices × 1), no lab run: the largest gap (5 devices).
- E  1.5.0 × Moto    a compat entry and a done run, no sessions: not in the fleet.
- F  1.4.0 × Moto    nothing: no evidence.
Field sessions give A–D a compat entry (untested: too few samples); E's is made by hand. A pair in the fleet without
an entry is still "in the fleet" (test_every_pair_has_one_state_as_the_raw_rows_say).
"""

from collections import defaultdict
from datetime import timedelta
from types import SimpleNamespace

from django.utils import timezone

from benchmarks.importers.base import ImportedRun, LatencySummary
from benchmarks.models import BenchmarkRun
from benchmarks.services import RunIdentity, benchmark_run_create
from compat.models import CompatEntry, DeviceModel, ModelVersion, OsFamily
from telemetry.kpi.buckets import hour_floors
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_hours_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

LAB_DAYS = 90  # the default LAB_COVERAGE_DAYS


def lab_run(c, *, model_version, device_model, delegate, days_ago, status="done"):
    identity = RunIdentity(
        model="yolov8n", model_version=model_version.version, runtime="tflite", runtime_version="2.16.1",
        delegate=delegate.slug, device_model=device_model.slug, build=f"lab-{days_ago}-{status}", config={},
        ran_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip
    latency = LatencySummary(count=10, mean_ms=10.0, std_ms=0.1, min_ms=9.0, max_ms=11.0)
    run = benchmark_run_create(
        identity=identity, result=ImportedRun(source_format="json", latency=latency), enqueue=False
    )
    if status != "done":
        BenchmarkRun.objects.filter(pk=run.pk).update(status=status)
    return run


def sessions_plant(c, *, device_model, model_version, delegate, devices, per_device=1, days_ago=1):
    at = timezone.now() - timedelta(days=days_ago, minutes=5)
    for _ in range(devices):
        device = device_make(c, device_model=device_model)
        for i in range(per_device):
            session_make(c, device=device, at=at - timedelta(minutes=i), samples=[10.0], model_version=model_version,
                         delegate=delegate)  # fmt: skip


def roll_up():
    rollup_hours_compute(hours=hour_floors(InferenceSession.objects.values_list("started_at", flat=True)))


def coverage_fleet_make():
    c = catalog_make()
    c.moto = DeviceModel.objects.create(slug="moto-g54", vendor="Motorola", name="Moto G54", os_family=OsFamily.ANDROID,
                                        tier=3)  # fmt: skip
    sessions_plant(c, device_model=c.pixel, model_version=c.v1, delegate=c.gpu, devices=4)
    sessions_plant(c, device_model=c.galaxy, model_version=c.v1, delegate=c.cpu, devices=3)
    sessions_plant(c, device_model=c.pixel, model_version=c.v2, delegate=c.gpu, devices=2)
    sessions_plant(c, device_model=c.galaxy, model_version=c.v2, delegate=c.cpu, devices=3, per_device=2)
    sessions_plant(c, device_model=c.galaxy, model_version=c.v2, delegate=c.gpu, devices=2)
    sessions_plant(c, device_model=c.pixel, model_version=c.v1, delegate=c.gpu, devices=1, days_ago=20)  # old: not 7 d
    lab_run(c, model_version=c.v1, device_model=c.pixel, delegate=c.gpu, days_ago=3)
    lab_run(c, model_version=c.v1, device_model=c.galaxy, delegate=c.gpu, days_ago=2)  # the field runs cpu
    lab_run(c, model_version=c.v2, device_model=c.pixel, delegate=c.gpu, days_ago=200)  # too old
    lab_run(c, model_version=c.v2, device_model=c.pixel, delegate=c.gpu, days_ago=1, status="failed")
    lab_run(c, model_version=c.v2, device_model=c.moto, delegate=c.gpu, days_ago=1)
    for model_version, device_model in ((c.v1, c.pixel), (c.v1, c.galaxy), (c.v2, c.moto)):
        CompatEntry.objects.get_or_create(model_version=model_version, device_model=device_model,
                                          runtime_version=c.tflite_216, delegate=c.gpu)  # fmt: skip
    roll_up()
    return c


def window_start(days=7):
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days - 1)


def expected(*, days=7, lab_days=LAB_DAYS):
    """From raw sessions, lab runs and compat entries only: the coverage figures, the ranked gaps, each pair's state."""
    devices, paths = defaultdict(set), defaultdict(lambda: defaultdict(int))
    for s in InferenceSession.objects.filter(started_at__gte=window_start(days)).select_related(
        "runtime_version__runtime", "delegate"
    ):
        pair = (s.model_version_id, s.device_model_id)
        devices[pair].add(s.device_id)
        paths[pair][(s.runtime_version.runtime.slug, s.delegate.slug)] += 1
    since = timezone.now() - timedelta(days=lab_days)
    covered = {
        (r.model_version_id, r.device_model_id)
        for r in BenchmarkRun.objects.filter(status="done", ran_at__gte=since).select_related(
            "runtime_version__runtime"
        )
        if (r.runtime_version.runtime.slug, r.delegate.slug) in paths.get((r.model_version_id, r.device_model_id), {})
    }
    total = sum(len(d) for d in devices.values())
    gaps = sorted(
        (
            (mv, dm, len(devices[(mv, dm)]), sum(paths[(mv, dm)].values()),
             sorted(((f"{rt}/{dl}", n) for (rt, dl), n in paths[(mv, dm)].items()), key=lambda p: (-p[1], p[0])))
            for mv, dm in devices if (mv, dm) not in covered
        ),
        key=lambda g: (-g[2], -g[3], g[0], g[1]),
    )  # fmt: skip
    evidenced = set(CompatEntry.objects.values_list("model_version_id", "device_model_id"))
    states = {}
    for pair in {(mv, dm) for mv in _ids("model_version") for dm in _ids("device_model")}:
        if pair in devices:
            states[pair] = "lab-tested" if pair in covered else "fleet-no-lab"
        else:
            states[pair] = "not-in-fleet" if pair in evidenced else "no-evidence"
    share = sum(len(devices[p]) for p in covered) / total if total else None
    return SimpleNamespace(share=share, covered_pairs=len(covered), pairs=len(devices), devices=total, gaps=gaps,
                           states=states)  # fmt: skip


def _ids(kind):
    return list((ModelVersion if kind == "model_version" else DeviceModel).objects.values_list("id", flat=True))


def more_pairs(c, *, count=3):
    """``count`` more uncovered active pairs on new device models: reads must not grow with them."""
    for i in range(count):
        device_model = DeviceModel.objects.create(slug=f"extra-{i}", vendor="Extra", name=f"Extra {i}",
                                                  os_family=OsFamily.ANDROID, tier=2)  # fmt: skip
        sessions_plant(c, device_model=device_model, model_version=c.v1, delegate=c.gpu, devices=1)
    roll_up()
