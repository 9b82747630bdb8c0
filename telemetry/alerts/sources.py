"""Alert sources of apps above telemetry: findings that are no rollup KPI (labfield's delegate-fallback drift).

telemetry may not import those apps (tests/test_architecture.py), so an app registers, from its AppConfig.ready(),
the function that judges the cells for one AlertKpi; alerts_evaluate then opens, refreshes and resolves the
alerts of rules on that KPI with the same machinery as the KPI rules (dedupe, auto-resolve, webhooks).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..models import AlertKpi, AlertRule

SOURCE_KPIS = {
    AlertKpi.DELEGATE_FALLBACK_DRIFT,
    AlertKpi.LAB_REGRESSION,
}  # no rollup KPI: only a registered source judges them


@dataclass(frozen=True)
class AlertFinding:
    """One cohort missing the rule: what its alert shows (key: the cohort key the KPI alerts use)."""

    key: str
    label: str
    filters: dict
    value: float
    threshold: float
    sessions: int
    # Field impact (lab-regression alerts): None where the source has none.
    field_devices: int | None = None
    field_sessions_per_day: float | None = None
    fleet_share: float | None = None


@dataclass(frozen=True)
class SourceVerdict:
    """A source's judgement of every cohort it saw: the missing ones, and the keys judged healthy.

    An open alert whose key is in neither `findings` nor `healthy` resolves only when its key is not in `present`
    (too little evidence either way keeps it open, as for the KPI rules)."""

    findings: list[AlertFinding] = field(default_factory=list)
    healthy: set[str] = field(default_factory=set)
    present: set[str] = field(default_factory=set)


AlertSource = Callable[[AlertRule, datetime], SourceVerdict]
_sources: dict[str, AlertSource] = {}


def alert_source_register(kpi: str, source: AlertSource) -> None:
    """Sets the source judging rules on `kpi` (idempotent: ready() may run twice in tests)."""
    _sources[kpi] = source


def alert_source_get(kpi: str) -> AlertSource | None:
    return _sources.get(kpi)
