"""Fleet simulator: a realistic fleet posting through the real HTTP ingest API with the device SDK.

Devices come from the compat catalog with stacks that make sense for them (TFLite GPU/NNAPI on Android, Core ML on
Apple, TensorRT on Jetson, OpenVINO on Intel...), post on a diurnal curve in their local time, with latency per
tier, delegate, model size and precision. Three bad cohorts are planted (SimulationPlan says which):
  * fallback: one Android device model's GPU delegate falls back to CPU after an OS update (accelerated
    fraction ~0.3, latency ×2.4);
  * crash spike: one SoC's GPU driver crashes (native frames in the vendor OpenCL driver) in the last 3 days;
  * slow model version: a new release of the most used model rolls out during the range and is 1.7× slower.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edgeportal_client.events import crash_event, session_event
from edgeportal_client.histogram import RELATIVE_ACCURACY, LatencyHistogram

_MULTIPLIER = 1 / math.log((1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY))  # ddsketch LogarithmicMapping
FALLBACK_OS = ("Android 14", "Android 15")
APP_VERSIONS = (("3.2.1", 0.6), ("3.1.4", 0.3), ("3.0.9", 0.1))
TIER_MEDIAN_MS = {1: 7.0, 2: 15.0, 3: 38.0}
DELEGATE_SPEEDUP = {"npu": 0.55, "dsp": 0.65, "gpu": 0.8, "cpu": 2.0}
ACCELERATED_FRACTION = {"npu": 0.93, "dsp": 0.9, "gpu": 0.97, "cpu": 0.0}
PRECISION_FACTOR = {"fp32": 1.0, "fp16": 0.75, "int8": 0.55, "int4": 0.5}
SESSIONS_PER_DAY = 6.0
CRASH_SPIKE_DAYS = 3
SPIKE_CRASH_RATE = 0.12
SLOW_VERSION_FACTOR = 1.7
# (os families, runtime, preferred delegates by accelerator kind, model formats it runs)
STACKS = (
    ({"android"}, "tflite", {"npu": "nnapi", "gpu": "gpu", "cpu": "xnnpack"}, ("tflite",)),
    ({"ios", "macos"}, "coreml", {"npu": "all", "gpu": "cpu_and_gpu", "cpu": "cpu_only"}, ("mlpackage",)),
    ({"linux-nvidia"}, "tensorrt", {"npu": "gpu", "gpu": "gpu", "cpu": "gpu"}, ("onnx", "engine")),
    ({"linux-edgetpu"}, "tflite", {"npu": "edgetpu", "gpu": "xnnpack", "cpu": "xnnpack"}, ("tflite",)),
    ({"linux", "windows"}, "openvino", {"npu": "npu", "gpu": "gpu", "cpu": "cpu"}, ("onnx",)),
    ({"linux", "windows"}, "tflite", {"npu": "xnnpack", "gpu": "xnnpack", "cpu": "xnnpack"}, ("tflite",)),
)
SPIKE_FRAMES = [
    {"function": "oclCreateKernel", "module": "libCB.so", "offset": "0x8b2c4", "in_app": False},
    {"function": "clCreateKernel", "module": "libOpenCL.so", "offset": "0x1f0a8", "in_app": False},
    {"function": "tflite::gpu::cl::CLKernel::CreateFromProgram", "module": "libtensorflowlite_gpu_delegate.so",
     "offset": "0x1a2b40", "in_app": False},
    {"function": "tflite::gpu::cl::InferenceContext::Run", "module": "libtensorflowlite_gpu_delegate.so",
     "offset": "0x19e204", "in_app": False},
    {"function": "acme::vision::Detector::Run", "module": "libacme_vision.so", "offset": "0x4410", "in_app": True},
]  # fmt: skip
SPIKE_MESSAGE = "Fatal signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0 in tid 8123 (inference)"
BASELINE_CRASHES = [
    dict(kind="exception", exception_type="java.lang.IllegalStateException",
         message="Interpreter has already been closed.",
         frames=[{"function": "org.tensorflow.lite.NativeInterpreterWrapper.run", "module": "tensorflow-lite.jar",
                  "in_app": False},
                 {"function": "com.acme.vision.DetectorPool.release", "module": "app.jar", "in_app": True}]),
    dict(kind="watchdog", message="Input dispatching timed out (inference thread blocked for 5012 ms)",
         frames=[{"function": "acme::vision::Preprocess::Resize", "module": "libacme_vision.so", "offset": "0x2210",
                  "in_app": True}]),
]  # fmt: skip


@dataclass(frozen=True)
class Stack:
    """What one device runs: model version, runtime version, delegate (slugs as the API takes them)."""

    model: str
    model_version: str
    runtime: str
    runtime_version: str
    delegate: str
    delegate_kind: str
    precision: str
    size_mb: float


@dataclass
class SimDevice:
    """One simulated device and the bad-cohort events that will happen to it."""

    uid: str
    model: dict
    os_version: str
    app_version: str
    utc_offset_h: int
    stacks: list[Stack]
    os_update_at: datetime | None = None  # fallback cohort: OS update day (None: not in it)
    upgrade_at: datetime | None = None  # slow version rollout: when stacks[0] moves to the new version
    upgrade_version: str = ""


@dataclass
class SimulationPlan:
    """The fleet and where the bad cohorts are, so tests and the demo can point at them."""

    start: datetime
    end: datetime
    devices: list[SimDevice]
    fallback_device_model: str = ""
    fallback_os_version: str = FALLBACK_OS[1]
    crash_soc: str = ""
    slow_model: str = ""
    slow_model_version: str = ""
    slow_from_version: str = ""
    counts: Counter = field(default_factory=Counter)


def catalog_snapshot() -> dict:
    """Device models, runtimes (versions oldest first, delegates) and model versions from the compat catalog."""
    from compat.models import Delegate, DeviceModel, ModelVersion, RuntimeVersion

    runtimes: dict[str, dict] = {}
    for rv in RuntimeVersion.objects.select_related("runtime").order_by("released_on", "version"):
        runtimes.setdefault(rv.runtime.slug, {"versions": [], "delegates": {}})["versions"].append(rv.version)
    for delegate in Delegate.objects.select_related("runtime"):
        runtimes.setdefault(delegate.runtime.slug, {"versions": [], "delegates": {}})
        runtimes[delegate.runtime.slug]["delegates"][delegate.slug] = delegate.kind
    models: dict[str, list[tuple]] = {}
    for mv in ModelVersion.objects.select_related("ml_model").order_by("ml_model__slug", "version"):
        size_mb = (mv.size_bytes or 10 * 2**20) / 2**20
        models.setdefault(mv.ml_model.slug, []).append((mv.version, mv.format, mv.precision, size_mb))
    device_models = list(
        DeviceModel.objects.values("slug", "vendor", "soc", "os_family", "accelerators", "tier", "memory_budget_mb")
    )
    return {"device_models": device_models, "runtimes": runtimes, "models": models}


def _platform(device_model: dict) -> str:
    family, soc = device_model["os_family"], (device_model["soc"] or "").lower()
    if family == "linux" and ("orin" in soc or "xavier" in soc or "nvidia" in device_model["vendor"].lower()):
        return "linux-nvidia"
    if family == "linux" and "edge tpu" in soc:
        return "linux-edgetpu"
    return family


def _bump(version: str) -> str:
    match = re.match(r"^(\d+)\.(\d+)(.*)$", version)
    return f"{match[1]}.{int(match[2]) + 1}{match[3]}" if match else f"{version}-r2"


def _stack_for(device_model: dict, catalog: dict, rng: np.random.Generator, *, force_gpu: bool) -> Stack | None:
    platform = _platform(device_model)
    accelerators = device_model["accelerators"] or []
    for families, runtime, by_kind, formats in STACKS:
        spec = catalog["runtimes"].get(runtime)
        if platform not in families or not spec or not spec["versions"] or not spec["delegates"]:
            continue
        kinds = [k for k in ("npu", "gpu") if k in accelerators] + ["cpu"]
        weights = np.array([0.45 if k == "npu" else 0.4 if k == "gpu" else 0.15 for k in kinds])
        kind = "gpu" if force_gpu else kinds[rng.choice(len(kinds), p=weights / weights.sum())]
        delegate = by_kind[kind] if by_kind[kind] in spec["delegates"] else next(iter(spec["delegates"]))
        versions = [(m, v) for m, vs in catalog["models"].items() for v in vs if v[1] in formats]
        versions = versions or [(m, v) for m, vs in catalog["models"].items() for v in vs]
        if not versions:
            return None
        # half the fleet runs the app's flagship model of that format, the rest a spread of others
        pick = 0 if rng.random() < 0.5 else int(rng.integers(len(versions)))
        model, (version, _format, precision, size_mb) = versions[pick]
        runtime_version = (
            spec["versions"][-1] if rng.random() < 0.7 else spec["versions"][max(0, len(spec["versions"]) - 2)]
        )
        return Stack(
            model, version, runtime, runtime_version, delegate, spec["delegates"][delegate], precision, size_mb
        )
    return None


def fleet_plan(*, devices: int, start: datetime, end: datetime, seed: int, catalog: dict) -> SimulationPlan:
    """Picks devices, stacks and the bad cohorts (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    plan = SimulationPlan(start=start, end=end, devices=[])
    models = [m for m in catalog["device_models"] if _platform(m) != "windows" or catalog["runtimes"].get("openvino")]
    if not models:
        raise ValueError("the compat catalog has no device models: run the catalog demo step first")
    android_gpu = [m for m in models if m["os_family"] == "android" and "gpu" in (m["accelerators"] or [])]
    android_gpu.sort(key=lambda m: (m["vendor"].lower() != "samsung", m["tier"] != 2, m["slug"]))  # a mid-range
    fallback = android_gpu[0] if android_gpu else None
    plan.fallback_device_model = fallback["slug"] if fallback else ""
    weights = np.array([{1: 1.0, 2: 1.6, 3: 1.2}.get(m["tier"], 1.0) for m in models])
    span_days = (end - start).total_seconds() / 86400
    for index in range(devices):
        # every device model appears at least once, then by market-share-like weights; the fallback model is common
        model = models[index] if index < len(models) else models[rng.choice(len(models), p=weights / weights.sum())]
        if fallback and index % 7 == 3:
            model = fallback
        in_fallback = fallback is not None and model["slug"] == fallback["slug"]
        stack = _stack_for(model, catalog, rng, force_gpu=in_fallback)
        if stack is None:
            continue
        stacks = [stack]
        if rng.random() < 0.35:
            second = _stack_for(model, catalog, rng, force_gpu=in_fallback)
            if second and second.model != stack.model:
                stacks.append(second)
        app = APP_VERSIONS[rng.choice(len(APP_VERSIONS), p=[p for _, p in APP_VERSIONS])][0]
        device = SimDevice(
            uid=f"{model['slug']}-{seed:02d}{index:05d}",
            model=model,
            os_version=FALLBACK_OS[0]
            if model["os_family"] == "android"
            else {"ios": "iOS 18.1"}.get(model["os_family"], model["os_family"].capitalize()),
            app_version=app,
            utc_offset_h=int(rng.choice([-8, -5, 0, 1, 2, 5, 8, 9])),
            stacks=stacks,
        )
        if in_fallback:
            device.os_update_at = start + timedelta(days=float(rng.uniform(0.3, 0.8)) * span_days)
        plan.devices.append(device)
    releases = Counter((d.stacks[0].model, d.stacks[0].model_version) for d in plan.devices)
    if releases:
        (plan.slow_model, current), _ = releases.most_common(1)[0]
        taken, new = {v[0] for v in catalog["models"].get(plan.slow_model, [])}, _bump(current)
        while new in taken:  # a release nobody runs yet: ingest registers it on first sight
            new = _bump(new)
        plan.slow_model_version, plan.slow_from_version = new, current
        for device in plan.devices:
            if (device.stacks[0].model, device.stacks[0].model_version) == (plan.slow_model, current):
                device.upgrade_version = plan.slow_model_version
                device.upgrade_at = start + timedelta(days=float(rng.uniform(0.35, 1.3)) * span_days)
    socs = Counter(
        d.model["soc"] or d.model["slug"]
        for d in plan.devices
        if d.model["slug"] != plan.fallback_device_model
        and any(s.runtime == "tflite" and s.delegate_kind == "gpu" for s in d.stacks)
    )
    plan.crash_soc = socs.most_common(1)[0][0] if socs else ""
    return plan


def _histogram(samples: np.ndarray) -> LatencyHistogram:
    keys, counts = np.unique(np.ceil(np.log(samples) * _MULTIPLIER).astype(np.int64), return_counts=True)
    return LatencyHistogram(counts={int(k): int(c) for k, c in zip(keys, counts, strict=True)})


def device_batches(*, plan: SimulationPlan, device: SimDevice, rng: np.random.Generator) -> list[tuple[dict, list]]:
    """The device's events over the plan's range, as (device envelope, events) per OS version it had."""
    hours = int((plan.end - plan.start).total_seconds() // 3600)
    local_hour = (np.arange(hours) + plan.start.hour + device.utc_offset_h) % 24
    from_peak = (local_hour - 20 + 12) % 24 - 12  # hours from the 20:00 local evening peak, in [-12, 12)
    diurnal = 0.25 + np.exp(-(from_peak**2) / 18.0)
    rate = diurnal / diurnal[:24].sum() * SESSIONS_PER_DAY * rng.uniform(0.5, 1.5)
    per_hour = rng.poisson(rate)
    spike_from = plan.end - timedelta(days=CRASH_SPIKE_DAYS)
    soc = device.model["soc"] or device.model["slug"]
    before, after = [], []
    for hour_index in np.nonzero(per_hour)[0]:
        for _ in range(per_hour[hour_index]):
            started = plan.start + timedelta(hours=int(hour_index), seconds=float(rng.uniform(0, 3600)))
            stack = device.stacks[int(rng.integers(len(device.stacks)))]
            version, slow = stack.model_version, 1.0
            if device.upgrade_at and stack is device.stacks[0] and started >= device.upgrade_at:
                version, slow = device.upgrade_version, SLOW_VERSION_FACTOR
            fell_back = (
                device.os_update_at is not None and started >= device.os_update_at and stack.delegate_kind != "cpu"
            )
            median = TIER_MEDIAN_MS.get(device.model["tier"], 20.0) * DELEGATE_SPEEDUP.get(stack.delegate_kind, 1.0)
            median *= PRECISION_FACTOR.get(stack.precision, 1.0) * min(4.0, max(0.4, stack.size_mb / 10) ** 0.6) * slow
            accelerated = ACCELERATED_FRACTION.get(stack.delegate_kind, 0.0)
            if fell_back:
                median, accelerated = median * 2.4, 0.3
            inferences = int(np.clip(rng.lognormal(5.8, 0.7), 20, 20_000))
            samples = rng.lognormal(math.log(median), 0.22, inferences)
            jank = rng.random(inferences) < 0.03  # thermal throttling / contention tail
            samples[jank] *= rng.uniform(2, 4, int(jank.sum()))
            rss = float(rng.lognormal(math.log(60 + 3.2 * stack.size_mb * (1.3 if fell_back else 1.0)), 0.15))
            identity = dict(model=stack.model, model_version=version, runtime=stack.runtime,
                            runtime_version=stack.runtime_version, delegate=stack.delegate)  # fmt: skip
            session_id = f"{device.uid}-{started:%Y%m%d%H%M%S}-{int(rng.integers(1 << 30)):x}"
            events = [session_event(
                **identity, session_id=session_id, started_at=started, duration_s=round(inferences / 2.0, 1),
                inferences=inferences, errors=int(rng.binomial(inferences, 0.0002 * slow)),
                histogram=_histogram(samples), accelerated_fraction=round(accelerated * rng.uniform(0.97, 1.0), 4),
                fallback_ops=["RESIZE_BILINEAR", "NON_MAX_SUPPRESSION_V5"] if fell_back else [],
                peak_rss_mb=round(rss, 1), thermal_state="fair" if jank.mean() > 0.05 else "nominal",
            )]  # fmt: skip
            crash = _crash_for(device, stack, soc, started, spike_from, plan, rng)
            if crash:
                at = started + timedelta(seconds=float(rng.uniform(1, max(2.0, inferences / 2.0))))
                events.append(crash_event(**identity, session_id=session_id, occurred_at=min(at, plan.end), **crash))
            (after if device.os_update_at and started >= device.os_update_at else before).extend(events)
            plan.counts["sessions"] += 1
            plan.counts["crashes"] += bool(crash)
    envelope = dict(uid=device.uid, model=device.model["slug"], os_version=device.os_version,
                    app_version=device.app_version, firmware=f"{device.model['slug'][:6].upper()}.2410.1")  # fmt: skip
    batches = [(envelope, before)] if before else []
    if after:
        batches.append(({**envelope, "os_version": FALLBACK_OS[1]}, after))
    return batches


def _crash_for(device, stack, soc, started, spike_from, plan, rng) -> dict | None:
    if soc == plan.crash_soc and stack.runtime == "tflite" and stack.delegate_kind == "gpu" and started >= spike_from:
        if rng.random() < SPIKE_CRASH_RATE:
            return dict(kind="native", signal="SIGSEGV", frames=SPIKE_FRAMES, message=SPIKE_MESSAGE)
    if device.model["tier"] == 3 and rng.random() < 0.004:
        return dict(kind="oom", message="Out of memory: inference process killed by lmkd")
    if rng.random() < 0.0015:
        return dict(BASELINE_CRASHES[int(rng.integers(len(BASELINE_CRASHES)))])
    return None
