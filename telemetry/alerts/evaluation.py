"""KPI alerts: evaluate AlertRules on the cohort rollups, open/refresh/resolve Alerts, deliver webhooks.

Safe to run on two workers at once: a rule is claimed for an evaluation round with a conditional update of its
`last_evaluated_at`, the database allows one open alert per (rule, cohort key), and each webhook notification is
claimed with a conditional update of its `notified_*_at` column before it is sent.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compat.models import Delegate, DelegateKind, DeviceModel, ModelVersion, RuntimeVersion
from core.slo import SloTargets, slo_targets_get

from . import selectors
from .models import Alert, AlertKpi, AlertRule, AlertStatus

logger = logging.getLogger(__name__)

MIN_INTERVAL = timedelta(minutes=4)  # a second worker within this window finds the rule already claimed
WEBHOOK_TIMEOUT_S = 5
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = 0.5
MAX_DELIVERY_ROUNDS = 5  # evaluation rounds that retry a failing webhook before giving up
HIGHER_IS_BETTER = {AlertKpi.CRASH_FREE_SESSIONS: True, AlertKpi.ACCELERATOR_UTILIZATION: True}


@dataclass
class EvaluationResult:
    """What one evaluation round did."""

    rules: int = 0
    skipped_rules: int = 0  # claimed by another worker
    opened: list[int] = field(default_factory=list)
    refreshed: int = 0
    resolved: list[int] = field(default_factory=list)
    delivered: int = 0


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


def _misses(kpi: str, value: float, threshold: float) -> bool:
    return value < threshold if HIGHER_IS_BETTER.get(kpi) else value > threshold


def _applies(rule: AlertRule, device_model: DeviceModel, delegate: Delegate) -> bool:
    # Utilization targets only mean something where an accelerator path was chosen.
    if rule.kpi == AlertKpi.ACCELERATOR_UTILIZATION:
        return device_model.has_accelerator and delegate.kind != DelegateKind.CPU
    return True


def _claim_rule(rule: AlertRule, now: datetime) -> bool:
    claimed = (
        AlertRule.objects.filter(pk=rule.pk)
        .filter(Q(last_evaluated_at__isnull=True) | Q(last_evaluated_at__lte=now - MIN_INTERVAL))
        .update(last_evaluated_at=now)
    )
    return claimed == 1


def _cohorts(*, window_hours: int, now: datetime, cache: dict) -> list:
    if window_hours not in cache:
        rows = selectors.kpi_breakdown(start=now - timedelta(hours=window_hours), end=now, dimension="cohort")
        ids = list(zip(*[key for key, _ in rows], strict=True)) if rows else [(), (), (), ()]
        cache[window_hours] = (
            rows,
            DeviceModel.objects.in_bulk(set(ids[0])),
            ModelVersion.objects.select_related("ml_model").in_bulk(set(ids[1])),
            RuntimeVersion.objects.select_related("runtime").in_bulk(set(ids[2])),
            Delegate.objects.in_bulk(set(ids[3])),
        )
    return cache[window_hours]


def _open_or_refresh(*, rule, key, label, filters, value, threshold, sessions, now) -> bool:
    """Refreshes the open alert of (rule, key) or opens one; True when this call opened it."""
    fields = {"value": value, "threshold": threshold, "sessions": sessions, "last_seen_at": now}
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
        rows, device_models, model_versions, runtime_versions, delegates = _cohorts(
            window_hours=rule.window_hours, now=now, cache=cache
        )
        min_sessions = rule.min_sessions or targets.min_sample_sessions
        healthy: set[str] = set()
        for (dm_id, mv_id, rv_id, dl_id), kpis in rows:
            key = f"{dm_id}|{mv_id}|{rv_id}|{dl_id}"
            device_model, delegate = device_models[dm_id], delegates[dl_id]
            value = getattr(kpis, rule.kpi)
            if value is None or kpis.sessions < min_sessions or not _applies(rule, device_model, delegate):
                continue  # not enough evidence either way: an open alert stays open
            threshold = rule_threshold(rule=rule, device_model=device_model, targets=targets)
            if not _misses(rule.kpi, value, threshold):
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
        # Resolve when judged healthy, or when the cohort had no traffic at all in the window (it went away).
        present = {f"{dm}|{mv}|{rv}|{dl}" for (dm, mv, rv, dl), _ in rows}
        for alert_id, key in Alert.objects.filter(rule=rule, status=AlertStatus.OPEN).values_list("id", "cohort_key"):
            if key in healthy or key not in present:
                # Conditional: a concurrent resolve of the same alert counts once.
                if Alert.objects.filter(pk=alert_id, status=AlertStatus.OPEN).update(
                    status=AlertStatus.RESOLVED, resolved_at=now
                ):
                    result.resolved.append(key)
    result.delivered = alert_webhooks_deliver(now=now)
    return result


def _post(url: str, body: dict) -> str:
    """POSTs with retries and backoff; '' on success, else the last error."""
    error = ""
    for attempt in range(WEBHOOK_ATTEMPTS):
        try:
            response = requests.post(url, json=body, timeout=WEBHOOK_TIMEOUT_S)
            if response.status_code < 300:
                return ""
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return error  # the receiver refused it: retrying the same body will not help
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        time.sleep(WEBHOOK_BACKOFF_S * 2**attempt)
    return error


def alert_payload(alert: Alert, event: str) -> dict:
    return {
        "event": event,
        "alert_id": alert.pk,
        "rule": alert.rule.name,
        "kpi": alert.rule.kpi,
        "cohort": alert.cohort_label,
        "cohort_filters": alert.cohort_filters,
        "value": alert.value,
        "threshold": alert.threshold,
        "sessions": alert.sessions,
        "opened_at": alert.opened_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def alert_webhooks_deliver(*, now: datetime | None = None) -> int:
    """Sends each pending opened/resolved notification once (claimed first); a failure is unclaimed for a retry."""
    now = now or timezone.now()
    sent = 0
    pending = Alert.objects.filter(rule__webhook_url__gt="", delivery_attempts__lt=MAX_DELIVERY_ROUNDS).filter(
        Q(notified_open_at__isnull=True) | Q(status=AlertStatus.RESOLVED, notified_resolved_at__isnull=True)
    )
    for alert in pending.select_related("rule"):
        column = "notified_open_at" if alert.notified_open_at is None else "notified_resolved_at"
        event = "alert.opened" if column == "notified_open_at" else "alert.resolved"
        if not Alert.objects.filter(pk=alert.pk, **{f"{column}__isnull": True}).update(**{column: now}):
            continue  # another worker claimed this notification
        error = _post(alert.rule.webhook_url, alert_payload(alert, event))
        if error:
            Alert.objects.filter(pk=alert.pk).update(
                **{column: None}, delivery_error=error, delivery_attempts=alert.delivery_attempts + 1
            )
            logger.warning("Alert %s webhook failed: %s", alert.pk, error)
        else:
            Alert.objects.filter(pk=alert.pk).update(delivery_error="")
            sent += 1
    return sent
