"""Met, at risk or missed: one definition of a KPI against its target, shared by the KPI home and the readiness
verdict. Pure Python (no Django), so rule modules built on it import cleanly anywhere.

A KPI is *at risk* when it still meets its target but uses more than 90 % of its allowance. For upper bounds
(latency, errors per 1k, memory, benchmark CV) the allowance is the target itself: met ≤ 0.9·T < at risk ≤ T <
missed. For shares that must stay high (crash-free sessions, accelerator utilization) the allowance is the
permitted shortfall 1 − T: e.g. crash-free target 99.5 % allows 0.5 % crashed sessions, so 99.55 %–99.5 % is at
risk and below 99.5 % is missed.
"""

AT_RISK_SHARE = 0.9  # "at risk": more than 90 % of the allowance used (module docstring)
MET, AT_RISK, MISSED, UNKNOWN = "met", "at_risk", "missed", "unknown"


def kpi_status(*, value: float | None, target: float | None, higher_is_better: bool) -> str:
    """met / at_risk / missed (see the module docstring), or unknown without a value or target."""
    if value is None or target is None:
        return UNKNOWN
    if higher_is_better:
        shortfall, allowance = 1 - value, 1 - target
        if shortfall > allowance:
            return MISSED
        return AT_RISK if shortfall > AT_RISK_SHARE * allowance else MET
    if value > target:
        return MISSED
    return AT_RISK if value > AT_RISK_SHARE * target else MET
