"""Alert evaluation: AlertRules on the cohort rollups, open/refresh/resolve Alerts, then deliver webhooks.

Safe to run on two workers at once: a rule is claimed for an evaluation round with a conditional update of its
`last_evaluated_at`, the database allows one open alert per (rule, cohort key), and each webhook notification is
claimed with a conditional update of its `notified_*_at` column before it is sent.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compat.models import Delegate, DeviceModel, ModelVersion, RuntimeVersion
from core.slo import slo_targets_get

from ..kpi.selectors import kpi_breakdown
from ..models import Alert, AlertRule, AlertStatus
from .notifications import alert_webhooks_deliver
from .rules import rule_applies, rule_threshold, threshold_missed
from .sources import SOURCE_KPIS, SourceVerdict, alert_source_get

MIN_INTERVAL = timedelta(minutes=4)  # a second worker within this window finds the rule already claimed


@dataclass
class EvaluationResult:
    """What one evaluation round did."""

    rules: int = 0
    skipped_rules: int = 0  # claimed by another worker
    opened: list[int] = field(default_factory=list)
    refreshed: int = 0
    resolved: list[int] = field(default_factory=list)
    delivered: int = 0


def _claim_rule(rule: AlertRule, now: datetime) -> bool:
    claimed = (
        AlertRule.objects.filter(pk=rule.pk)
        .filter(Q(last_evaluated_at__isnull=True) | Q(last_evaluated_at__lte=now - MIN_INTERVAL))
        .update(last_evaluated_at=now)
    )
    return claimed == 1


def _cohorts(*, window_hours: int, now: datetime, cache: dict) -> list:
    if window_hours not in cache:
        rows = kpi_breakdown(start=now - timedelta(hours=window_hours), end=now, dimension="cohort")
        ids = list(zip(*[key for key, _ in rows], strict=True)) if rows else [(), (), (), ()]
        cache[window_hours] = (
            rows,
            DeviceModel.objects.in_bulk(set(ids[0])),
            ModelVersion.objects.select_related("ml_model").in_bulk(set(ids[1])),
            RuntimeVersion.objects.select_related("runtime").in_bulk(set(ids[2])),
            Delegate.objects.in_bulk(set(ids[3])),
        )
    return cache[window_hours]


def _open_or_refresh(*, rule, key, label, filters, value, threshold, sessions, now, impact=None) -> bool:
    """Refreshes the open alert of (rule, key) or opens one; True when this call opened it."""
    fields = {"value": value, "threshold": threshold, "sessions": sessions, "last_seen_at": now, **(impact or {})}
    if Alert.objects.filter(rule=rule, cohort_key=key, status=AlertStatus.OPEN).update(**fields):
        return False
    try:
        with transaction.atomic():
            Alert.objects.create(rule=rule, cohort_key=key, cohort_label=label, cohort_filters=filters, opened_at=now,
                                 **fields)  # fmt: skip
    except IntegrityError:  # another worker opened it between our update and insert: the constraint deduped it
        return False
    return True


def alerts_evaluate(*, now: datetime | None = None) -> EvaluationResult:
    """One evaluation round over every enabled rule, then webhook delivery."""
    now = now or timezone.now()
    targets = slo_targets_get()
    result = EvaluationResult()
    cache: dict = {}
    for rule in AlertRule.objects.filter(enabled=True):
        if not _claim_rule(rule, now):
            result.skipped_rules += 1
            continue
        result.rules += 1
        source = alert_source_get(rule.kpi)
        if source is not None:
            _verdict_apply(rule=rule, verdict=source(rule, now), now=now, result=result)
            continue
        if rule.kpi in SOURCE_KPIS:
            continue  # judged by an app that is not installed: its open alerts stay as they are
        rows, device_models, model_versions, runtime_versions, delegates = _cohorts(
            window_hours=rule.window_hours, now=now, cache=cache
        )
        min_sessions = rule.min_sessions or targets.min_sample_sessions
        healthy: set[str] = set()
        for (dm_id, mv_id, rv_id, dl_id), kpis in rows:
            key = f"{dm_id}|{mv_id}|{rv_id}|{dl_id}"
            device_model, delegate = device_models[dm_id], delegates[dl_id]
            value = getattr(kpis, rule.kpi)
            if value is None or kpis.sessions < min_sessions or not rule_applies(rule, device_model, delegate):
                continue  # not enough evidence either way: an open alert stays open
            threshold = rule_threshold(rule=rule, device_model=device_model, targets=targets)
            if not threshold_missed(rule.kpi, value, threshold):
                healthy.add(key)
            else:
                mv, rv = model_versions[mv_id], runtime_versions[rv_id]
                label = f"{device_model} · {mv} · {rv} · {delegate.slug}"
                filters = {"device_model": device_model.slug, "model": mv.ml_model.slug, "model_version": mv.version,
                           "runtime": rv.runtime.slug, "runtime_version": rv.version, "delegate": delegate.slug}  # fmt: skip
                if _open_or_refresh(rule=rule, key=key, label=label, filters=filters, value=value,
                                    threshold=threshold, sessions=kpis.sessions, now=now):  # fmt: skip
                    result.opened.append(key)
                else:
                    result.refreshed += 1
        present = {f"{dm}|{mv}|{rv}|{dl}" for (dm, mv, rv, dl), _ in rows}
        _resolve(rule=rule, healthy=healthy, present=present, now=now, result=result)
    result.delivered = alert_webhooks_deliver(now=now)
    return result


def _resolve(*, rule, healthy: set[str], present: set[str], now: datetime, result: EvaluationResult) -> None:
    """Resolves when judged healthy, or when the cohort had no traffic at all in the window (it went away)."""
    for alert_id, key in Alert.objects.filter(rule=rule, status=AlertStatus.OPEN).values_list("id", "cohort_key"):
        if key in healthy or key not in present:
            # Conditional: a concurrent resolve of the same alert counts once.
            if Alert.objects.filter(pk=alert_id, status=AlertStatus.OPEN).update(
                status=AlertStatus.RESOLVED, resolved_at=now
            ):
                result.resolved.append(key)


def _verdict_apply(*, rule, verdict: SourceVerdict, now: datetime, result: EvaluationResult) -> None:
    """A registered source's findings through the same open/refresh/resolve path as the KPI rules."""
    for finding in verdict.findings:
        if _open_or_refresh(rule=rule, key=finding.key, label=finding.label, filters=finding.filters,
                            value=finding.value, threshold=finding.threshold, sessions=finding.sessions, now=now,
                            impact={"field_devices": finding.field_devices, "fleet_share": finding.fleet_share,
                                    "field_sessions_per_day": finding.field_sessions_per_day}):  # fmt: skip
            result.opened.append(finding.key)
        else:
            result.refreshed += 1
    missing = {finding.key for finding in verdict.findings}
    _resolve(rule=rule, healthy=verdict.healthy - missing, present=verdict.present | missing, now=now, result=result)
