"""Telemetry models, one module per kind: raw rows, rollups, triage, alerts. Django finds them through this face."""

from .activity import (
    DailyModelVersionDevices,
    DeviceActivityDay,
    DeviceActivityHour,
    DeviceLackingDay,
    DeviceLackingHour,
    DeviceModelDevice,
)
from .alerts import Alert, AlertKpi, AlertRule, AlertStatus
from .fallback import DailyFallbackDevice, DailyFallbackRollup, HourlyFallbackPartial, HourlyFallbackRollup
from .partitions import CrashEventKey, RawTableCopy, RawTableCopyStatus, SessionEventKey
from .raw import (
    ClockFlag,
    CrashGroup,
    CrashGroupDevice,
    CrashGroupStatus,
    CrashKind,
    CrashReport,
    Device,
    InferenceSession,
)
from .rollups import (
    CohortColumns,
    CohortRollup,
    CrashGroupRollup,
    DailyCoarseRollup,
    DailyCrashGroupRollup,
    DailyDeviceModelRollup,
    DailyFleetRollup,
    DailyRollup,
    GrainSums,
    HourlyCrashGroupRollup,
    HourlyFleetRollup,
    HourlyRollup,
    HourlySessionPartial,
    RollupDirtyHour,
)
from .thermal import DailyThermalDevice, DailyThermalRollup, HourlyThermalRollup, ThermalDeviceLastDay
from .trailing import TrailingClosedRollup, TrailingGrain, TrailingRollup, TrailingWindow
from .triage import AuditAction, CrashGroupAlias, CrashGroupAuditEvent, CrashGroupNote

__all__ = [
    "Alert", "AlertKpi", "AlertRule", "AlertStatus",
    "ClockFlag", "CrashGroup", "CrashGroupDevice", "CrashGroupStatus", "CrashKind", "CrashReport", "Device",
    "InferenceSession",
    "DailyFallbackDevice", "DailyFallbackRollup", "HourlyFallbackPartial", "HourlyFallbackRollup",
    "CrashEventKey", "RawTableCopy", "RawTableCopyStatus", "SessionEventKey",
    "CohortColumns", "CohortRollup", "CrashGroupRollup", "DailyCoarseRollup", "DailyCrashGroupRollup",
    "DailyDeviceModelRollup", "DailyFleetRollup", "DailyModelVersionDevices", "DailyRollup", "DeviceActivityDay",
    "DeviceActivityHour", "DeviceLackingDay", "DeviceLackingHour",
    "DeviceModelDevice", "GrainSums", "HourlyCrashGroupRollup", "HourlyFleetRollup", "HourlyRollup",
    "HourlySessionPartial", "RollupDirtyHour",
    "DailyThermalDevice", "DailyThermalRollup", "HourlyThermalRollup", "ThermalDeviceLastDay",
    "TrailingClosedRollup", "TrailingGrain", "TrailingRollup", "TrailingWindow",
    "AuditAction", "CrashGroupAlias", "CrashGroupAuditEvent", "CrashGroupNote",
]  # fmt: skip
