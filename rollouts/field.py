"""Every read of telemetry for rollouts, in one module (telemetry's layout may move: re-point the imports here).

An arm's data is the raw session summaries of its devices on its version inside the rollout's scope and the stage's
window: guardrails need per-session rows (sessions are the clusters of the variance), which rollups do not keep.
"""

from collections.abc import Iterable
from datetime import datetime

import numpy as np
from django.db.models import Q

from compat.models import DeviceModel
from telemetry.models import Device, InferenceSession

from .arms import ArmData
from .assignment import Arm, DeviceCohort, device_arm

MAX_HISTOGRAM_WIDTH = 1024  # buckets kept per arm (γ^1024 ≈ 10^9: far wider than any latency spread)


def device_cohort(*, uid: str) -> DeviceCohort | None:
    """What scope matching needs of a device, or None if it never reported."""
    device = Device.objects.filter(uid=uid).select_related("device_model").first()
    if device is None:
        return None
    return DeviceCohort(
        device_model=device.device_model.slug,
        tier=device.device_model.tier,
        os_version=device.os_version,
        app_version=device.app_version,
    )


def _scope_q(scope: dict, *, prefix: str = "") -> Q:
    q = Q()
    if scope.get("device_model"):
        q &= Q(**{f"{prefix}device_model__slug__in": scope["device_model"]})
    if scope.get("tier"):
        q &= Q(**{f"{prefix}device_model__tier__in": scope["tier"]})
    if scope.get("os_version"):
        q &= Q(**{f"{prefix}os_version__in": scope["os_version"]})
    if scope.get("app_version"):
        q &= Q(**{f"{prefix}app_version__in": scope["app_version"]})
    return q


def arm_device_ids(*, rollout_id: int, scope: dict, percent: int, control_percent: int) -> dict[str, list[int]]:
    """Ids of the scope's known devices in the candidate and control arms at `percent`."""
    arms: dict[str, list[int]] = {Arm.CANDIDATE: [], Arm.CONTROL: []}
    for device_id, uid in Device.objects.filter(_scope_q(scope)).values_list("id", "uid").iterator(chunk_size=5000):
        arm = device_arm(rollout_id=rollout_id, device_uid=uid, percent=percent, control_percent=control_percent)
        if arm != Arm.NONE:
            arms[arm].append(device_id)
    return arms


def _matrix(histograms: list[dict]) -> tuple[int, np.ndarray, np.ndarray]:
    keys_per_session = [{int(k): int(c) for k, c in (h.get("counts") or {}).items()} for h in histograms]
    all_keys = [k for keys in keys_per_session for k in keys]
    if not all_keys:
        return 0, np.zeros((len(histograms), 1), dtype=np.int64), np.zeros(len(histograms), dtype=np.int64)
    high = max(all_keys)
    low = max(min(all_keys), high - MAX_HISTOGRAM_WIDTH + 1)
    counts = np.zeros((len(histograms), high - low + 1), dtype=np.int64)
    for row, keys in enumerate(keys_per_session):
        for key, count in keys.items():
            counts[row, max(key, low) - low] += count
    zero = np.array([int(h.get("zero_count") or 0) for h in histograms], dtype=np.int64)
    return low, counts, zero


def arm_sessions(
    *, device_ids: Iterable[int], model_version_id: int, scope: dict, start: datetime, end: datetime
) -> ArmData:
    """One arm's sessions: these devices, this version, in scope, started in [start, end)."""
    device_ids = list(device_ids)
    if not device_ids:
        return ArmData.empty()
    rows = list(
        InferenceSession.objects.filter(
            _scope_q(scope),
            device_id__in=device_ids,
            model_version_id=model_version_id,
            started_at__gte=start,
            started_at__lt=end,
        )
        .order_by("started_at", "id")
        .values_list(
            "device_id",
            "device_model_id",
            "has_crash",
            "inferences",
            "errors",
            "accelerated_fraction",
            "peak_rss_mb",
            "latency_histogram",
        )
    )
    if not rows:
        return ArmData.empty()
    slugs = dict(DeviceModel.objects.filter(id__in={r[1] for r in rows}).values_list("id", "slug"))
    offset, counts, zero = _matrix([r[7] or {} for r in rows])
    nan = float("nan")
    return ArmData(
        device_model=np.array([slugs[r[1]] for r in rows], dtype=object),
        device=np.array([r[0] for r in rows]),
        crashed=np.array([r[2] for r in rows], dtype=bool),
        inferences=np.array([r[3] for r in rows], dtype=float),
        errors=np.array([r[4] for r in rows], dtype=float),
        accelerated_fraction=np.array([nan if r[5] is None else r[5] for r in rows], dtype=float),
        peak_rss_mb=np.array([nan if r[6] is None else r[6] for r in rows], dtype=float),
        latency_offset=offset,
        latency_counts=counts,
        latency_zero=zero,
    )


def candidate_cells(*, device_ids: Iterable[int], model_version_id: int, start: datetime) -> set[tuple[int, int, int]]:
    """(runtime id, delegate id, device model id) the candidate ran on in the field since `start`."""
    return set(
        InferenceSession.objects.filter(
            device_id__in=list(device_ids), model_version_id=model_version_id, started_at__gte=start
        )
        .values_list("runtime_version__runtime_id", "delegate_id", "device_model_id")
        .distinct()
    )
