"""An arm's KPIs with 95 % confidence intervals, overall and per device model (the API's `arms`, the page's table)."""

import math

import numpy as np

from edgeportal_client.histogram import bucket_value

from .arms import ArmData, value_keys
from .guardrails import KPI_VALUES
from .stats import quantile_rank_interval, ratio_variance, wilson_interval

Z95 = 1.96


def _round(value, digits: int = 4):
    return None if value is None else round(float(value), digits)


def _interval(low, high, digits: int = 4) -> list | None:
    return None if low is None or high is None else [_round(low, digits), _round(high, digits)]


def kpi_intervals(arm: ArmData) -> dict[str, list | None]:
    """Wilson for crash-free; sandwich-normal for rates and means; order statistics for the p95s (sessions as
    independent for the quantiles, so those intervals are slightly narrow when sessions are correlated)."""
    out: dict[str, list | None] = dict.fromkeys(KPI_VALUES)
    if arm.sessions == 0:
        return out
    crash_free = wilson_interval(arm.sessions - float(arm.crashed.sum()), arm.sessions)
    out["crash_free_sessions"] = _interval(*crash_free)
    total = float(arm.inferences.sum())
    if total > 0:
        rate = float(arm.errors.sum()) / total
        se = math.sqrt(max(rate / total, ratio_variance(arm.errors, arm.inferences, rate)))
        out["errors_per_1k"] = _interval(1000 * max(0.0, rate - Z95 * se), 1000 * (rate + Z95 * se))
    histogram = arm.latency_histogram()
    n = histogram.count
    if n > 1:
        low, high = quantile_rank_interval(n, 0.95)
        out["p95_latency_ms"] = _interval(histogram.quantile(low / (n - 1)), histogram.quantile(high / (n - 1)), 2)
    known = ~np.isnan(arm.accelerated_fraction)
    weight = arm.inferences[known]
    if weight.sum() > 0:
        y = arm.accelerated_fraction[known] * weight
        mean = float(y.sum() / weight.sum())
        se = math.sqrt(ratio_variance(y, weight, mean))
        out["accelerator_utilization"] = _interval(max(0.0, mean - Z95 * se), min(1.0, mean + Z95 * se))
    rss = arm.peak_rss_mb[~np.isnan(arm.peak_rss_mb)]
    if len(rss) > 1:
        keys = np.sort(value_keys(rss))
        low, high = quantile_rank_interval(len(keys), 0.95)
        out["peak_rss_mb_p95"] = _interval(bucket_value(int(keys[low])), bucket_value(int(keys[high])), 1)
    return out


def arm_summary(arm: ArmData, *, per_device_model: bool = True) -> dict:
    """{devices, sessions, kpis, intervals[, by_device_model]} — API.md's arm object plus optional detail."""
    summary = {
        "devices": arm.devices,
        "sessions": arm.sessions,
        "kpis": {kpi: _round(value(arm)) if arm.sessions else None for kpi, value in KPI_VALUES.items()},
        "intervals": kpi_intervals(arm),
    }
    if per_device_model:
        summary["by_device_model"] = {
            model: arm_summary(part, per_device_model=False) for model, part in arm.by_device_model().items()
        }
    return summary
