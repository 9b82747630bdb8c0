"""Synthetic arm data at the statistics level, for perf/rollout_eval.py and the tests: the guardrails' inputs without
a database. Sessions come from devices of three device models with device and session effects (so inferences within
a session are correlated, as in the field), overdispersed errors, and a per-session latency histogram on the
edgeportal_client bucket grid (log-normal within a session).
"""

from dataclasses import dataclass, field

import numpy as np

from .arms import LOG_GAMMA, ArmData

DEVICE_MODELS = ("sim-phone-a", "sim-phone-b", "sim-phone-c")


@dataclass(frozen=True)
class FleetProfile:
    """Behaviour of a version on the fleet; the regressions below apply to `affected` device models only."""

    base_latency_ms: tuple[float, ...] = (28.0, 40.0, 55.0)
    latency_sigma: float = 0.15  # within a session, on the log scale
    session_sigma: float = 0.05
    device_sigma: float = 0.08
    crash_rate: float = 0.005
    errors_per_inference: float = 0.001
    error_dispersion: float = 2.0  # gamma shape of the per-session error-rate multiplier (mean 1)
    accelerated_fraction: float = 0.95
    rss_mb: float = 200.0
    mean_inferences: int = 100
    affected: tuple[str, ...] = ()
    latency_factor: float = 1.0
    crash_rate_affected: float | None = None
    errors_per_inference_affected: float | None = None
    devices: int = 4000


@dataclass
class DeviceFleet:
    """Persistent device effects (a device's sessions share them), drawn once per simulated rollout."""

    rng: np.random.Generator
    profile: FleetProfile
    device_model: np.ndarray = field(init=False)
    latency_effect: np.ndarray = field(init=False)
    accel_effect: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.profile.devices
        self.device_model = self.rng.integers(0, len(DEVICE_MODELS), n)
        self.latency_effect = self.rng.normal(0, self.profile.device_sigma, n)
        self.accel_effect = self.rng.normal(0, 0.02, n)


def arm_generate(
    *, rng: np.random.Generator, fleet: DeviceFleet, profile: FleetProfile, sessions: int, devices: np.ndarray = None
) -> ArmData:
    """`sessions` sessions of one arm on devices of `fleet` (or on `devices`, indices into it: a rollout's arms are
    disjoint sets of devices), behaving as `profile` says."""
    pool = np.arange(len(fleet.device_model)) if devices is None else np.asarray(devices)
    devices = pool[rng.integers(0, len(pool), sessions)]
    model_index = fleet.device_model[devices]
    models = np.array(DEVICE_MODELS, dtype=object)[model_index]
    affected = np.isin(models, profile.affected)
    inferences = rng.poisson(profile.mean_inferences, sessions) + 20
    crash_rate = np.where(affected, profile.crash_rate_affected or profile.crash_rate, profile.crash_rate)
    error_rate = np.where(
        affected, profile.errors_per_inference_affected or profile.errors_per_inference, profile.errors_per_inference
    )
    multiplier = rng.gamma(profile.error_dispersion, 1 / profile.error_dispersion, sessions)
    errors = rng.poisson(inferences * error_rate * multiplier)
    accelerated = np.clip(
        profile.accelerated_fraction + fleet.accel_effect[devices] + rng.normal(0, 0.01, sessions), 0, 1
    )
    rss = profile.rss_mb * np.exp(rng.normal(0, 0.12, sessions))
    log_mean = (
        np.log(np.array(profile.base_latency_ms))[model_index]
        + fleet.latency_effect[devices]
        + rng.normal(0, profile.session_sigma, sessions)
        + np.where(affected, np.log(profile.latency_factor), 0.0)
    )
    # Raw per-inference samples, bucketed exactly as the SDK does (ceil(log_γ x)), one histogram row per session.
    session_of = np.repeat(np.arange(sessions), inferences)
    keys = np.ceil((log_mean[session_of] + rng.normal(0, profile.latency_sigma, len(session_of))) / LOG_GAMMA)
    keys = keys.astype(np.int64)
    offset = int(keys.min())
    width = int(keys.max()) - offset + 1
    counts = np.bincount(session_of * width + (keys - offset), minlength=sessions * width).reshape(sessions, width)
    return ArmData(
        device_model=models,
        device=devices,
        crashed=rng.random(sessions) < crash_rate,
        inferences=inferences.astype(float),
        errors=errors.astype(float),
        accelerated_fraction=accelerated,
        peak_rss_mb=rss,
        latency_offset=offset,
        latency_counts=counts.astype(np.int32),
        latency_zero=np.zeros(sessions, dtype=np.int64),
    )
