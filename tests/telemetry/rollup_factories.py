"""Raw-row factories for rollup/KPI tests: sessions with known latency samples, so exact answers can be computed."""

import itertools
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edgeportal_client.histogram import LatencyHistogram
from telemetry.models import CrashGroup, CrashReport, Device, InferenceSession

_seq = itertools.count(1)


@dataclass
class RawTruth:
    """What the raw rows hold, computed independently of the rollup code."""

    sessions: list[InferenceSession] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


def session_make(
    c, *, device: Device, at: datetime, samples: list[float], crashed: bool = False, accelerated: float | None = 0.9,
    rss: float | None = 200.0, errors: int = 0, model_version=None, delegate=None, os_version: str | None = None,
    app_version: str | None = None,
) -> InferenceSession:  # fmt: skip
    """One raw session whose histogram holds exactly ``samples`` (inferences = len(samples))."""
    return InferenceSession.objects.create(
        event_id=uuid.uuid4(), device=device, session_id=f"s-{next(_seq)}", device_model=device.device_model,
        model_version=model_version or c.v1, runtime_version=c.tflite_216, delegate=delegate or c.gpu,
        app_version=device.app_version if app_version is None else app_version,
        os_version=device.os_version if os_version is None else os_version,
        started_at=at, received_at=at, duration_s=60.0, inferences=len(samples), errors=errors,
        latency_histogram=LatencyHistogram.from_samples(samples).to_wire(), accelerated_fraction=accelerated,
        peak_rss_mb=rss, has_crash=crashed,
    )  # fmt: skip


def crash_make(c, *, session: InferenceSession, at: datetime | None = None) -> CrashReport:
    """A crash report for ``session`` (marks the session crashed, as ingest does)."""
    group, _ = CrashGroup.objects.get_or_create(
        fingerprint="f" * 64,
        defaults=dict(
            title="SIGSEGV", kind="native", first_seen_at=session.started_at, last_seen_at=session.started_at
        ),
    )
    InferenceSession.objects.filter(id=session.id).update(has_crash=True)
    return CrashReport.objects.create(
        event_id=uuid.uuid4(), device=session.device, session_id=session.session_id, inference_session=session,
        group=group, fingerprint=group.fingerprint, device_model=session.device_model,
        model_version=session.model_version, runtime_version=session.runtime_version, delegate=session.delegate,
        app_version=session.app_version, os_version=session.os_version, occurred_at=at or session.started_at,
        received_at=at or session.started_at, kind="native", signal="SIGSEGV",
    )  # fmt: skip


def fleet_make(c, *, devices: list[Device], start: datetime, hours: int, seed: int = 7) -> RawTruth:
    """Random sessions over ``hours`` hours from ``start``: lognormal latencies, some crashes, varied RSS."""
    rng = random.Random(seed)
    truth = RawTruth()
    for hour in range(hours):
        for device in devices:
            if rng.random() < 0.3:
                continue
            at = start + timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
            samples = [round(rng.lognormvariate(3.0, 0.4), 3) for _ in range(rng.randrange(5, 60))]
            rss = round(rng.uniform(120, 400), 1)
            session = session_make(
                c, device=device, at=at, samples=samples, crashed=rng.random() < 0.05,
                accelerated=rng.choice([1.0, 0.9, 0.5, None]), rss=rss, errors=rng.randrange(3),
            )  # fmt: skip
            truth.sessions.append(session)
            truth.samples.extend(samples)
            truth.rss.append(rss)
    return truth


def exact_quantile(values: list[float], q: float) -> float:
    """The sample at rank floor(q·(n−1)) (numpy method="lower"), the histogram's quantile convention."""
    return float(np.quantile(np.asarray(values), q, method="lower"))
