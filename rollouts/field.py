"""Every read of telemetry for rollouts, in one module (telemetry's layout may move: re-point the imports here).

An arm's data is the raw session summaries of its devices on its version inside the rollout's scope and the stage's
window: guardrails need per-session rows (sessions are the clusters of the variance), which rollups do not keep.
"""

from collections.abc import Iterable
from datetime import datetime

import numpy as np
from django.db.models import Q

from compat.models import DeviceModel
from telemetry.kpi import coverage
from telemetry.kpi.coverage import MISSING_FIELDS, missing_q
from telemetry.models import Device, InferenceSession
from telemetry.tasks import rollups_deferred

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


# -- reads behind the release KPIs (rollouts.kpis) ---------------------------------------------------------------


def first_candidate_sessions(*, rollout_ids: list[int]) -> dict[int, datetime | None]:
    """Per rollout: the first session on its candidate version in its scope since it started (one query)."""
    from django.db.models import OuterRef, Subquery

    from .models import Rollout

    first = (
        InferenceSession.objects.filter(
            model_version_id=OuterRef("candidate_version_id"), started_at__gte=OuterRef("started_at")
        )
        .order_by("started_at")
        .values("started_at")[:1]
    )
    rows = (
        Rollout.objects.filter(id__in=rollout_ids)
        .annotate(first_session=Subquery(first))
        .values_list("id", "first_session")
    )
    return dict(rows)


def incidents(*, start: datetime, end: datetime) -> list[dict]:
    """Inference incidents resolved in [start, end), oldest resolution first: KPI alerts (opened → resolved) and
    crash groups (first seen → their first `resolve` triage event). Two queries."""
    from django.db.models import Min

    from telemetry.models import Alert, CrashGroup

    rows = [
        {"kind": "alert", "id": pk, "title": f"{rule}: {label}", "opened_at": opened, "resolved_at": resolved}
        for pk, rule, label, opened, resolved in Alert.objects.filter(
            resolved_at__gte=start, resolved_at__lt=end
        ).values_list("id", "rule__name", "cohort_label", "opened_at", "resolved_at")
    ]
    groups = CrashGroup.objects.annotate(
        resolved=Min("audit_events__created_at", filter=Q(audit_events__action="resolve"))
    )
    rows += [
        {"kind": "crash_group", "id": pk, "title": title, "opened_at": first_seen, "resolved_at": resolved}
        for pk, title, first_seen, resolved in groups.filter(resolved__gte=start, resolved__lt=end).values_list(
            "id", "title", "first_seen_at", "resolved"
        )
    ]
    for row in rows:
        row["hours"] = round((row["resolved_at"] - row["opened_at"]).total_seconds() / 3600, 2)
    return sorted(rows, key=lambda row: (row["resolved_at"], row["kind"], row["id"]))


def field_defects(*, version_since: dict[int, datetime]) -> dict[int, dict[str, int]]:
    """Per model version: crash groups first seen on it and KPI alerts on its cohorts, since its rollout started."""
    from django.db.models import F

    from telemetry.models import Alert, CrashReport

    counts = {version_id: {"crash_groups": 0, "alerts": 0} for version_id in version_since}
    if not version_since:
        return counts
    earliest = min(version_since.values())
    first_crashes = (
        CrashReport.objects.filter(model_version_id__in=list(version_since), occurred_at=F("group__first_seen_at"))
        .values_list("model_version_id", "group_id", "occurred_at")
        .distinct()
    )
    seen = set()
    for version_id, group_id, at in first_crashes:
        if at >= version_since[version_id] and group_id not in seen:
            seen.add(group_id)
            counts[version_id]["crash_groups"] += 1
    for cohort_key, opened_at in Alert.objects.filter(opened_at__gte=earliest).values_list("cohort_key", "opened_at"):
        parts = cohort_key.split("|")
        version_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if version_id in version_since and opened_at >= version_since[version_id]:
            counts[version_id]["alerts"] += 1
    return counts


def fallback_sessions_by_month(*, start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
    """Per UTC month: (sessions reporting fallback ops, sessions)."""
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    rows = (
        InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end)
        .annotate(month=TruncMonth("started_at"))
        .values("month")
        .annotate(total=Count("id"), with_fallback=Count("id", filter=~Q(fallback_ops=[])))
        .order_by("month")
    )
    return {row["month"]: (row["with_fallback"], row["total"]) for row in rows}


def observability_devices(*, start: datetime, end: datetime) -> tuple[int, int]:
    """(active devices, active devices none of whose sessions lacks a KPI field) over [start, end)."""
    from django.db.models import Count

    counts = InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end).aggregate(
        active=Count("device_id", distinct=True), lacking=Count("device_id", distinct=True, filter=missing_q())
    )
    return counts["active"], counts["active"] - counts["lacking"]


def rolled_up_fallback_sessions_by_month(*, start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
    """fallback_sessions_by_month from the fleet rollups (range snapped to hours; as of the last rollup run)."""
    return coverage.fallback_sessions_by_month(start=start, end=end)


def rolled_up_observability_devices(*, start: datetime, end: datetime) -> tuple[int, int]:
    """observability_devices from the device-day rollups (range snapped to hours; as of the last rollup run)."""
    return coverage.observability_devices(start=start, end=end)


def observability_gaps(*, start: datetime, end: datetime, limit: int = 200) -> list[dict]:
    """The active devices that have a session lacking a KPI field in [start, end), most such sessions first: uid,
    device model, sessions lacking each field (one grouped query, at most `limit` rows)."""
    from django.db.models import Count

    lacking = InferenceSession.objects.filter(missing_q(), started_at__gte=start, started_at__lt=end)
    per_field = {f"lacking_{name}": Count("id", filter=q) for name, q in MISSING_FIELDS.items()}
    rows = (
        lacking.values("device__uid", "device__device_model__slug")
        .annotate(sessions=Count("id"), **per_field)
        .order_by("-sessions", "device__uid")[:limit]
    )
    return [
        {"device": row["device__uid"], "device_model": row["device__device_model__slug"], "sessions": row["sessions"],
         "lacking": [name for name in MISSING_FIELDS if row[f"lacking_{name}"]]}
        for row in rows
    ]  # fmt: skip


def ingest_rollups_deferred():
    """Context manager: ingest only marks hours dirty meanwhile (the rollout simulator posts many small batches)."""
    return rollups_deferred()
