"""Alert rules: a rule's threshold (its own, else the SLO target), whether a cohort misses it, where it applies."""

from compat.models import Delegate, DelegateKind, DeviceModel
from core.slo import SloTargets

from ..models import AlertKpi, AlertRule

HIGHER_IS_BETTER = {AlertKpi.CRASH_FREE_SESSIONS: True, AlertKpi.ACCELERATOR_UTILIZATION: True}


def rule_threshold(*, rule: AlertRule, device_model: DeviceModel, targets: SloTargets) -> float:
    """The rule's own threshold, else the KPI target (latency per the device model's tier)."""
    if rule.threshold is not None:
        return rule.threshold
    return {
        AlertKpi.P95_LATENCY_MS: targets.p95_latency_ms(device_model.tier),
        AlertKpi.CRASH_FREE_SESSIONS: targets.crash_free_sessions,
        AlertKpi.ERRORS_PER_1K: targets.errors_per_1k,
        AlertKpi.ACCELERATOR_UTILIZATION: targets.accelerator_utilization,
    }[rule.kpi]


def threshold_missed(kpi: str, value: float, threshold: float) -> bool:
    return value < threshold if HIGHER_IS_BETTER.get(kpi) else value > threshold


def rule_applies(rule: AlertRule, device_model: DeviceModel, delegate: Delegate) -> bool:
    # Utilization targets only mean something where an accelerator path was chosen.
    if rule.kpi == AlertKpi.ACCELERATOR_UTILIZATION:
        return device_model.has_accelerator and delegate.kind != DelegateKind.CPU
    return True
