"""A device's arm in a rollout: a pure function of (rollout id, device uid) through a stable hash.

bucket = first 8 bytes of sha256("rollout:<id>:<uid>") mod 10,000. The control arm is the top
`control_percent` of buckets; the candidate arm is every bucket below `percent`·100 that is not control.
So arms never change while the rollout runs, a larger percent only adds devices, control and candidate
are disjoint, and different rollouts hash the same device independently.
"""

import hashlib
from dataclasses import dataclass

BUCKETS = 10_000
SCOPE_KEYS = ("device_model", "tier", "os_version", "app_version")


class Arm:
    CANDIDATE = "candidate"
    CONTROL = "control"
    NONE = "none"


def device_bucket(*, rollout_id: int, device_uid: str) -> int:
    digest = hashlib.sha256(f"rollout:{rollout_id}:{device_uid}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_for_bucket(*, bucket: int, percent: int, control_percent: int) -> str:
    if bucket >= BUCKETS - control_percent * (BUCKETS // 100):
        return Arm.CONTROL
    if bucket < percent * (BUCKETS // 100):
        return Arm.CANDIDATE
    return Arm.NONE


def device_arm(*, rollout_id: int, device_uid: str, percent: int, control_percent: int) -> str:
    bucket = device_bucket(rollout_id=rollout_id, device_uid=device_uid)
    return arm_for_bucket(bucket=bucket, percent=percent, control_percent=control_percent)


@dataclass(frozen=True)
class DeviceCohort:
    """What scope matching needs to know of a device."""

    device_model: str
    tier: int
    os_version: str
    app_version: str


def scope_contains(scope: dict, cohort: DeviceCohort | None) -> bool:
    """An empty list matches everything; an unknown device only matches a scope with no filter at all."""
    filters = {key: scope.get(key) or [] for key in SCOPE_KEYS}
    if cohort is None:
        return not any(filters.values())
    return all(not wanted or getattr(cohort, key) in wanted for key, wanted in filters.items())
