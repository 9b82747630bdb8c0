"""A fleet with planted delegate-fallback drift, posted through the real ingest API and rolled up as the periodic
sweep rolls it up, and an independent reckoning of every drift figure from the planted sessions (no labfield code).

- drift: yolov8n 1.4.0 × tflite 2.16.1 × gpu × Pixel 8. The lab's run placed every op on the GPU (accelerated 1.0).
  16 devices on "Android 14" (firmware UP1A) run at 0.995 all along; 4 devices on "Android 15" (firmware AP4A) ran at
  0.99 until DRIFT_DAYS_AGO days ago and from that day on at 0.6 with RESIZE_BILINEAR and TRANSPOSE_CONV falling
  back. Android 14 sessions report SOFTMAX as a fallback op: the lab has no such op, so it is never named.
  Two sessions a day per device, 1..9 days ago; the cell as a whole stays within 10 points of the lab (and its
  compat status supported), Android 15 does not.
- no_placement: yolov8n 1.5.0 on the same path: a lab run without a per-op profile, field sessions that fall back
  on one OS version: no drift row.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.test import Client

from benchmarks.importers.base import ImportedRun, LatencySummary, OpProfile
from benchmarks.services import RunIdentity, benchmark_run_create
from core.services import api_key_create
from edgeportal_client.events import session_event
from telemetry.rollups.compute import rollup_hours_close
from telemetry.tasks import rollups_deferred

INGEST_URL = "/api/v1/ingest/"
DRIFT_DAYS_AGO = 3
DAYS = 9
LAB_OPS = (("CONV_2D", 0.5), ("DEPTHWISE_CONV_2D", 0.2), ("RESIZE_BILINEAR", 0.2), ("TRANSPOSE_CONV", 0.1))
DRIFT_OPS = ["RESIZE_BILINEAR", "TRANSPOSE_CONV"]
FIRMWARE = {"Android 14": "UP1A.231005.007", "Android 15": "AP4A.250105.002"}
MIN_SESSIONS = 10


@dataclass
class PlantedDriftSession:
    uid: str
    model_version: str
    os_version: str
    app_version: str
    firmware: str
    started_at: datetime
    inferences: int
    accelerated: float
    fallback_ops: list[str]


@dataclass
class DriftFleet:
    now: datetime
    sessions: list[PlantedDriftSession] = field(default_factory=list)
    devices: dict = field(default_factory=dict)  # uid -> (os_version, app_version, firmware)
    runs: dict = field(default_factory=dict)


def midnight(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def plant(now: datetime) -> DriftFleet:
    fleet = DriftFleet(now=now)
    today = midnight(now)
    for os_version, count in (("Android 14", 16), ("Android 15", 4)):
        for i in range(count):
            uid = f"pixel-{os_version[-2:]}-{i:03d}"
            fleet.devices[uid] = (os_version, "3.2.1", FIRMWARE[os_version])
            for days_ago in range(1, DAYS + 1):
                for n in range(2):
                    drifted = os_version == "Android 15" and days_ago <= DRIFT_DAYS_AGO
                    fallback = DRIFT_OPS if drifted else (["SOFTMAX"] if os_version == "Android 14" else [])
                    accelerated = 0.6 if drifted else (0.995 if os_version == "Android 14" else 0.99)
                    fleet.sessions.append(
                        PlantedDriftSession(
                            uid, "1.4.0", os_version, "3.2.1", FIRMWARE[os_version],
                            today - timedelta(days=days_ago) + timedelta(hours=10, minutes=n * 7 + i), 20,
                            accelerated, fallback,
                        )
                    )  # fmt: skip
    for i in range(3):  # the cell without op placement: its Android 15 sessions fall back as much
        uid = f"pixel-np-{i:03d}"
        fleet.devices[uid] = ("Android 15", "3.2.1", FIRMWARE["Android 15"])
        for days_ago in range(1, 6):
            for n in range(3):
                fleet.sessions.append(
                    PlantedDriftSession(
                        uid, "1.5.0", "Android 15", "3.2.1", FIRMWARE["Android 15"],
                        today - timedelta(days=days_ago) + timedelta(hours=9, minutes=n), 20, 0.5, DRIFT_OPS,
                    )
                )  # fmt: skip
    return fleet


def recovery_plant(fleet: DriftFleet, *, per_device: int = 30) -> list[PlantedDriftSession]:
    """The fix shipped: today's Android 15 sessions run every op on the GPU again, enough to lift its 7 days."""
    added = []
    for uid, (os_version, app_version, firmware) in fleet.devices.items():
        if os_version != "Android 15" or "-np-" in uid:
            continue
        for n in range(per_device):
            at = fleet.now - timedelta(minutes=2, seconds=n)
            added.append(PlantedDriftSession(uid, "1.4.0", os_version, app_version, firmware, at, 20, 0.995, []))
    fleet.sessions += added
    return added


def lab_runs_create(c, fleet: DriftFleet, *, model_version: str = "1.4.0", without_placement: str | None = "1.5.0"):
    """A run with every op on the GPU for `model_version`; one without a per-op profile for `without_placement`."""
    identity = dict(model="yolov8n", runtime="tflite", runtime_version="2.16.1", delegate="gpu",
                    device_model=c.pixel.slug, config={}, ran_at=fleet.now - timedelta(days=2))  # fmt: skip
    latency = LatencySummary(count=100, mean_ms=10.0, p50_ms=10.0, p95_ms=12.0)
    ops = [
        OpProfile(name=f"{op_type.lower()}_{i}", op_type=op_type, delegate="gpu", accelerated=True, avg_ms=share * 10,
                  share=share)
        for i, (op_type, share) in enumerate(LAB_OPS)
    ]  # fmt: skip
    placed = ImportedRun(source_format="json", latency=latency, accelerated_fraction=1.0, ops=ops)
    fleet.runs[model_version] = benchmark_run_create(
        identity=RunIdentity(model_version=model_version, build="lab-ops", **identity), result=placed, enqueue=False
    )
    if without_placement is None:
        return
    fleet.runs["no_placement"] = benchmark_run_create(
        identity=RunIdentity(model_version=without_placement, build="lab-no-ops", **identity),
        result=ImportedRun(source_format="json", latency=latency, accelerated_fraction=1.0),
        enqueue=False,
    )


def ingest(fleet: DriftFleet, sessions: list[PlantedDriftSession]) -> None:
    """One batch per device, built with the SDK's event builder, then the rollup sweep production runs."""
    _, raw_key = api_key_create(name=f"drift fleet {uuid.uuid4().hex[:6]}", scopes=["ingest"])
    client = Client()
    with rollups_deferred():
        for uid, (os_version, app_version, firmware) in fleet.devices.items():
            events = [
                session_event(
                    model="yolov8n", model_version=s.model_version, runtime="tflite", runtime_version="2.16.1",
                    delegate="gpu", session_id=uuid.uuid4().hex, started_at=s.started_at, duration_s=60.0,
                    inferences=s.inferences, errors=0, latencies_ms=[10.0] * s.inferences,
                    accelerated_fraction=s.accelerated, fallback_ops=s.fallback_ops, thermal_state="nominal",
                )
                for s in sessions
                if s.uid == uid
            ]  # fmt: skip
            if not events:
                continue
            body = {
                "device": {"uid": uid, "model": "google-pixel-8", "os_version": os_version,
                           "app_version": app_version, "firmware": firmware},
                "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "events": events,
            }  # fmt: skip
            response = client.post(INGEST_URL, json.dumps(body), content_type="application/json",
                                   HTTP_AUTHORIZATION=f"Bearer {raw_key}")  # fmt: skip
            assert response.status_code == 202, response.content
            assert response.json()["accepted"] == len(events), response.json()
    rollup_hours_close()


# -- the independent reckoning -----------------------------------------------------------------------------------


def window_sessions(fleet: DriftFleet, *, model_version: str = "1.4.0", days: int = 7):
    since = midnight(fleet.now) - timedelta(days=days - 1)
    return [s for s in fleet.sessions if s.model_version == model_version and s.started_at >= since]


def weighted_fraction(sessions) -> float:
    return sum(s.accelerated * s.inferences for s in sessions) / sum(s.inferences for s in sessions)


def expected_parts(fleet: DriftFleet, attribute: str, *, points: float = 10.0, min_sessions: int = MIN_SESSIONS):
    """{version: (sessions, fraction, points below the lab 1.0, drifting)} over the last 7 days."""
    groups: dict[str, list] = {}
    for s in window_sessions(fleet):
        groups.setdefault(getattr(s, attribute), []).append(s)
    parts = {}
    for key, sessions in groups.items():
        fraction = weighted_fraction(sessions)
        drop = (1.0 - fraction) * 100
        parts[key] = (len(sessions), fraction, drop, drop > points and len(sessions) >= min_sessions)
    return parts


def expected_since(fleet: DriftFleet, os_version: str, *, points: float = 10.0):
    """The first day of the latest run of days whose sessions on `os_version` are below the lab by > points."""
    by_day: dict = {}
    for s in fleet.sessions:
        if s.model_version == "1.4.0" and s.os_version == os_version:
            by_day.setdefault(s.started_at.date(), []).append(s)
    first = None
    for day in sorted(by_day, reverse=True):
        if (1.0 - weighted_fraction(by_day[day])) * 100 <= points:
            break
        first = day
    return first


def expected_ops(fleet: DriftFleet):
    """{op: (sessions listing it, share of the window's sessions)} for the lab's GPU ops only; devices affected."""
    sessions = window_sessions(fleet)
    lab_ops = {op for op, _ in LAB_OPS}
    counts: dict[str, int] = {}
    devices = set()
    for s in sessions:
        for op in set(s.fallback_ops) & lab_ops:
            counts[op] = counts.get(op, 0) + 1
            devices.add(s.uid)
    return {op: (n, n / len(sessions)) for op, n in counts.items()}, len(devices)
