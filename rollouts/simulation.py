"""End-to-end rollout simulation: devices ask the assignment API which version to run (through the SDK), post the
sessions of that version through the real HTTP ingest API, and the guardrails judge each round.

Two scenarios: a good candidate (behaves like the baseline) that passes every stage and completes, and a bad one
— 15 % slower at p95 and crashing 8 % of sessions on one device model only — that the guardrails roll back.
Each round stands for an hour of device time (the assignment cache's ttl_s runs out between rounds); wall time is
compressed, so the simulated stages ask for sessions, not hours (min_hours 0), and sessions start when posted.
"""

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta

import numpy as np
import requests
from django.utils import timezone

from compat.models import Delegate, DelegateKind, DeviceModel, MLModel, ModelVersion, OsFamily, Runtime, RuntimeVersion
from core.local_server import local_wsgi_server
from edgeportal_client.assignment import AssignmentClient
from edgeportal_client.client import EdgePortalClient
from edgeportal_client.events import crash_event, session_event
from edgeportal_client.histogram import LatencyHistogram

from . import field
from .evaluation import rollout_evaluate
from .models import RolloutStatus
from .services import Actor, rollout_create, rollout_start

MODEL = "demo-detector"
DEVICE_MODELS = (("demo-phone-a", "Demo", "Phone A", 32.0), ("demo-phone-b", "Demo", "Phone B", 45.0))
BAD_DEVICE_MODEL = "demo-phone-b"
ACTOR = Actor(name="simulate_rollout")


@dataclass
class Scenario:
    name: str
    candidate: str
    latency_factor: float = 1.0
    crash_rate: float = 0.005


@dataclass
class ScenarioResult:
    rollout_id: int
    status: str
    rounds: int
    sessions_posted: int
    decisions: list[str] = dataclass_field(default_factory=list)

    def summary(self) -> str:
        return f"rollout {self.rollout_id}: {self.status} after {self.rounds} rounds, {self.sessions_posted} sessions"


SCENARIOS = (
    Scenario("good candidate", candidate="1.1.0"),
    Scenario("slow, crashy on demo-phone-b", candidate="1.2.0", latency_factor=1.15, crash_rate=0.08),
)


def catalog_ensure() -> None:
    """The demo model (1.0.0 baseline, 1.1.0 good, 1.2.0 bad), two demo phones and TFLite GPU (idempotent)."""
    for slug, vendor, name, _ in DEVICE_MODELS:
        DeviceModel.objects.get_or_create(
            slug=slug,
            defaults={
                "vendor": vendor,
                "name": name,
                "os_family": OsFamily.ANDROID,
                "tier": 1,
                "accelerators": ["gpu"],
            },
        )
    model, _ = MLModel.objects.get_or_create(slug=MODEL, defaults={"name": "Demo detector"})
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        ModelVersion.objects.get_or_create(ml_model=model, version=version)
    runtime, _ = Runtime.objects.get_or_create(slug="tflite", defaults={"name": "TensorFlow Lite"})
    RuntimeVersion.objects.get_or_create(runtime=runtime, version="2.16.1")
    Delegate.objects.get_or_create(runtime=runtime, slug="gpu", defaults={"name": "GPU", "kind": DelegateKind.GPU})


def _sessions(
    *, version: str, scenario: Scenario, device_model: str, base_ms: float, at, rng, count: int
) -> list[dict]:
    bad = version == scenario.candidate and device_model == BAD_DEVICE_MODEL
    factor, crash_rate = (scenario.latency_factor, scenario.crash_rate) if bad else (1.0, 0.005)
    events = []
    for _ in range(count):
        session_id = uuid.uuid4().hex
        inferences = int(rng.poisson(120)) + 20
        samples = np.exp(rng.normal(np.log(base_ms * factor), 0.15, inferences) + rng.normal(0, 0.05))
        started = at
        common = {
            "model": MODEL,
            "model_version": version,
            "runtime": "tflite",
            "runtime_version": "2.16.1",
            "delegate": "gpu",
        }
        events.append(
            session_event(
                **common, session_id=session_id, started_at=started, duration_s=60.0, inferences=inferences,
                errors=int(rng.poisson(inferences * 0.001)), histogram=LatencyHistogram.from_samples(samples.tolist()),
                accelerated_fraction=float(np.clip(rng.normal(0.95, 0.02), 0, 1)),
                peak_rss_mb=float(200 * np.exp(rng.normal(0, 0.1))),
            )
        )  # fmt: skip
        if rng.random() < crash_rate:
            events.append(
                crash_event(**common, session_id=session_id, occurred_at=started + timedelta(seconds=30), kind="native",
                            signal="SIGSEGV", message="Fatal signal 11 in gpu delegate")
            )  # fmt: skip
    return events


def scenario_run(
    *, scenario: Scenario, base_url: str, ingest_key: str, devices: int = 80, sessions_per_round: int = 12,
    max_rounds: int = 12, seed: int = 1, progress: Callable[[str], None] | None = None,
) -> ScenarioResult:  # fmt: skip
    rng = np.random.default_rng(seed)
    rollout = rollout_create(
        data={
            "name": f"{MODEL} {scenario.candidate}: {scenario.name}", "model": MODEL, "baseline_version": "1.0.0",
            "candidate_version": scenario.candidate, "scope": {"device_model": [m[0] for m in DEVICE_MODELS]},
            "stages": [{"percent": 25, "min_hours": 0, "min_sessions": 300}, {"percent": 100, "min_hours": 0,
                                                                             "min_sessions": 300}],
            "control_percent": 30, "on_failure": "rollback", "auto_advance": True,
            "guardrails": [
                {"kpi": "crash_free_sessions", "max_regression": 0.02, "per_device_model": True},
                {"kpi": "p95_latency_ms", "max_regression": 0.10, "per_device_model": True},
                {"kpi": "errors_per_1k", "max_regression": 1.0},
            ],
        },
        actor=ACTOR,
    )  # fmt: skip
    rollout_start(rollout_id=rollout.pk, actor=ACTOR, reason="simulated release")
    fleet = [(f"sim-{scenario.candidate}-{i:04d}", DEVICE_MODELS[i % len(DEVICE_MODELS)]) for i in range(devices)]
    clock = [0.0]
    http = requests.Session()
    assignments = {
        uid: AssignmentClient(base_url, ingest_key, device_uid=uid, session=http, clock=lambda: clock[0])
        for uid, _ in fleet
    }
    posted, rounds = 0, 0
    with field.ingest_rollups_deferred():
        for rounds in range(1, max_rounds + 1):
            for uid, (model_slug, _, _, base_ms) in fleet:
                now = timezone.now()
                version = assignments[uid].assigned_version(MODEL) or "1.0.0"
                device = {"uid": uid, "model": model_slug, "os_version": "Android 15", "app_version": "3.2.1"}
                client = EdgePortalClient(base_url, ingest_key, device, session=http)
                events = _sessions(version=version, scenario=scenario, device_model=model_slug, base_ms=base_ms, at=now, rng=rng,
                                   count=sessions_per_round)  # fmt: skip
                for event in events:
                    client.record(event)
                result = client.flush()
                posted += sum(1 for e in events if e["type"] == "session") if not result.last_error else 0
            clock[0] += 3600  # an hour later: every assignment's ttl has run out
            rollout = rollout_evaluate(rollout_id=rollout.pk)
            if progress:
                progress(
                    f"  round {rounds}: {rollout.status}, stage {rollout.stage}, {(rollout.verdict or {}).get('decision')}"
                )
            if rollout.status in (RolloutStatus.COMPLETED, RolloutStatus.ROLLED_BACK):
                break
    http.close()
    rollout.refresh_from_db()
    decisions = [f"{d.action} by {d.actor}: {d.reason}" for d in rollout.decisions.order_by("at", "id")]
    return ScenarioResult(rollout.pk, rollout.status, rounds, posted, decisions)


def rollouts_simulate(*, base_url: str | None = None, seed: int = 1, progress=None, **options) -> list[ScenarioResult]:
    """Both scenarios through a local HTTP server (or `base_url`, sharing this database) with a temporary ingest key."""
    from core.models import ApiKey
    from core.services import api_key_create

    catalog_ensure()
    key, raw = api_key_create(name="simulate_rollout", scopes=["ingest"])
    try:
        with contextlib.ExitStack() as stack:
            url = base_url or stack.enter_context(local_wsgi_server(name="simulate-rollout-wsgi"))
            results = []
            for index, scenario in enumerate(SCENARIOS):
                if progress:
                    progress(f"{scenario.name} ({MODEL} 1.0.0 → {scenario.candidate})")
                results.append(
                    scenario_run(
                        scenario=scenario, base_url=url, ingest_key=raw, seed=seed + index, progress=progress, **options
                    )
                )
        return results
    finally:
        ApiKey.objects.filter(pk=key.pk).delete()
