"""Lab regressions as alerts: each open regression is one alert (key `regression:<id>`) carrying its field impact.

Registered from LabFieldConfig.ready() as the source of AlertKpi.LAB_REGRESSION rules, so alerts_evaluate opens,
refreshes (impact re-read every round) and resolves them like the KPI alerts: a regression no longer open (triaged
fixed / false positive / acknowledged), or whose series' baseline moved to its change run or later, is no finding
and its alert resolves.
"""

from datetime import datetime

from django.db.models import F, Q

from benchmarks.field_impact import regressions_by_impact
from benchmarks.models import Regression, RegressionStatus
from telemetry.alerts.sources import AlertFinding, SourceVerdict
from telemetry.models import AlertRule

from .field import regressions_impact_annotate

KEY_PREFIX = "regression:"


def open_regressions_q() -> Q:
    """Open, and not absorbed by the baseline: no baseline, or one older than the change run."""
    return Q(status=RegressionStatus.OPEN) & (
        Q(series__baseline_run__isnull=True) | Q(series__baseline_run__created_at__lt=F("change_run__created_at"))
    )


def regression_alert_source(rule: AlertRule, now: datetime) -> SourceVerdict:
    """Every open regression whose change is at least the rule's threshold (percent worse; blank = any)."""
    regressions = Regression.objects.filter(open_regressions_q()).select_related(
        "series__ml_model", "series__device_model", "series__runtime", "series__delegate"
    )
    if rule.threshold is not None:
        regressions = regressions.filter(Q(change_pct__gte=rule.threshold) | Q(change_pct__lte=-rule.threshold))
    verdict = SourceVerdict()
    for regression in regressions_by_impact(regressions_impact_annotate(regressions, now=now)):
        series = regression.series
        verdict.findings.append(
            AlertFinding(
                key=f"{KEY_PREFIX}{regression.pk}", value=regression.change_pct, threshold=rule.threshold or 0.0,
                sessions=regression.field_sessions,
                label=f"{series.ml_model.slug} {series.precision} · {series.runtime.slug} · {series.delegate.slug} · "
                f"{series.device_model.slug}: {regression.metric} {regression.change_pct:+.1f}%"[:300],
                filters={"device_model": series.device_model.slug, "model": series.ml_model.slug,
                         "runtime": series.runtime.slug, "delegate": series.delegate.slug},
                field_devices=regression.field_devices, field_sessions_per_day=regression.field_sessions_per_day,
                fleet_share=regression.fleet_share,
            )
        )  # fmt: skip
    return verdict
