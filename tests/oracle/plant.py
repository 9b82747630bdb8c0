"""The planted fleet: plain data (no Django), the inputs both the ingest and the brute-force oracle start from.

Three device models, each judged against its own targets, planted so that order matters:
- Pixel 8 (tier 1, budget 50 ms, 400 MB): p95 ≈ 68 ms, 36 % over its budget; RSS p95 460 MB, 15 % over.
- Galaxy A54 (tier 2, budget 120 ms, 300 MB): p95 ≈ 144 ms, only 20 % over but higher in absolute terms; RSS p95
  390 MB, 30 % over with a lower absolute value. So the p95 card's worst is the Pixel, the memory card's the Galaxy.
- Redmi 12 (tier 3, budget 250 ms, 500 MB, CPU delegate): within every target; the only one on model 1.5.0.
Galaxy devices on app 3.3.0 crash (one crash group); those on 3.2.1 never do. Every Pixel has a session one minute
inside the 7-day range's start and one a minute before it (slow and large, so a leak past the edge shows), and
sessions in the previous period (trends) and before it (first seen).
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MODEL = "yolov8n"
RUNTIME, RUNTIME_VERSION = "tflite", "2.16.1"
DELEGATE_KINDS = {"gpu": "gpu", "cpu": "cpu"}
FRAMES = [
    {"function": "tflite::gpu::cl::InferenceContext::Run", "module": "libtensorflowlite_gpu_delegate.so",
     "offset": "0x1a2b40", "in_app": False},
    {"function": "com.acme.vision.Detector.run", "module": "libacme_vision.so", "offset": "0x4410", "in_app": True},
]  # fmt: skip


@dataclass(frozen=True)
class PlantedDeviceModel:
    slug: str
    vendor: str
    name: str
    tier: int
    memory_budget_mb: float
    accelerators: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.name}"


DEVICE_MODELS = {
    "google-pixel-8": PlantedDeviceModel("google-pixel-8", "Google", "Pixel 8", 1, 400, ("gpu", "npu")),
    "samsung-galaxy-a54": PlantedDeviceModel("samsung-galaxy-a54", "Samsung", "Galaxy A54", 2, 300, ("gpu",)),
    "xiaomi-redmi-12": PlantedDeviceModel("xiaomi-redmi-12", "Xiaomi", "Redmi 12", 3, 500, ("gpu",)),
}
MODEL_VERSIONS = ("1.4.0", "1.5.0")


@dataclass
class PlantedSession:
    uid: str
    device_model: str
    app_version: str
    model_version: str
    delegate: str
    session_id: str
    started_at: datetime
    samples: list[float]
    errors: int
    accelerated: float | None
    peak_rss_mb: float
    crashed: bool = False

    @property
    def inferences(self) -> int:
        return len(self.samples)


@dataclass
class PlantedCrash:
    uid: str
    device_model: str
    app_version: str
    model_version: str
    delegate: str
    session_id: str
    occurred_at: datetime


@dataclass
class PlantedDevice:
    uid: str
    device_model: str
    app_version: str
    model_version: str
    delegate: str


@dataclass
class Fleet:
    """What was planted, and the moment it was planted at (every event is before it)."""

    now: datetime
    devices: list[PlantedDevice] = field(default_factory=list)
    sessions: list[PlantedSession] = field(default_factory=list)
    crashes: list[PlantedCrash] = field(default_factory=list)


# (device model, devices, app versions by device index, model version, delegate, in-range sessions per device,
#  latency ranges (base, slow), RSS (usual, top), sessions per device at the top RSS)
COHORTS = (
    ("google-pixel-8", 4, lambda i: "3.2.1", "1.4.0", "gpu", 10, ((20, 45), (66, 70)), (300.0, 460.0), 1),
    ("samsung-galaxy-a54", 5, lambda i: "3.3.0" if i < 3 else "3.2.1", "1.4.0", "gpu", 8, ((60, 110), (140, 148)),
     (250.0, 390.0), 1),
    ("xiaomi-redmi-12", 3, lambda i: "3.2.1", "1.5.0", "cpu", 12, ((40, 80), (95, 105)), (200.0, 220.0), 1),
)  # fmt: skip


def calendar_range_start(now: datetime, days: int) -> datetime:
    """The first moment of a `days`-day calendar range ending now (UTC days, today included)."""
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return midnight - timedelta(days=days - 1)


def fleet_plant(now: datetime, seed: int = 15) -> Fleet:
    rng = random.Random(seed)
    fleet = Fleet(now=now)
    start = calendar_range_start(now, 7)
    latest = now - timedelta(minutes=10)
    span = (latest - start).total_seconds()

    def add(device: PlantedDevice, at: datetime, samples, rss: float, crashed: bool = False) -> PlantedSession:
        session = PlantedSession(
            uid=device.uid, device_model=device.device_model, app_version=device.app_version,
            model_version=device.model_version, delegate=device.delegate, session_id=f"s-{uuid.UUID(int=rng.getrandbits(128))}",
            started_at=at, samples=[round(s, 3) for s in samples], errors=1 if rng.random() < 0.04 else 0,
            accelerated=rng.choice([1.0, 0.97, 0.9, None]), peak_rss_mb=rss, crashed=crashed,
        )  # fmt: skip
        fleet.sessions.append(session)
        if crashed:
            fleet.crashes.append(
                PlantedCrash(device.uid, device.device_model, device.app_version, device.model_version,
                             device.delegate, session.session_id, at + timedelta(seconds=30))
            )  # fmt: skip
        return session

    for slug, count, app_version, version, delegate, per_device, (base, slow), (rss, rss_top), top in COHORTS:
        for i in range(count):
            device = PlantedDevice(f"{slug.split('-')[1]}-{i:04d}-8f3a", slug, app_version(i), version, delegate)
            fleet.devices.append(device)
            for n in range(per_device):
                # Spread over the range; the last one in the last ten minutes before `now` (today's adoption).
                at = start + timedelta(seconds=span * (n + 1) / per_device) - timedelta(seconds=rng.randrange(60))
                samples = [rng.uniform(*base) for _ in range(18)] + [rng.uniform(*slow) for _ in range(2)]
                crashed = device.app_version == "3.3.0" and n in (2, 5)
                add(device, at, samples, rss_top if n < top else rss, crashed)
            # The previous period (trends) and, for the first device of each model, well before (first seen).
            add(device, start - timedelta(days=2, minutes=rng.randrange(600)), [rng.uniform(*base) for _ in range(20)],
                rss)  # fmt: skip
            if i == 0:
                add(device, start - timedelta(days=9), [rng.uniform(*base) for _ in range(20)], rss)
            if slug == "google-pixel-8":
                add(device, start + timedelta(minutes=1), [rng.uniform(*base) for _ in range(20)], rss)
                add(device, start - timedelta(minutes=1), [400.0 + i for i in range(20)], 999.0)
    return fleet
