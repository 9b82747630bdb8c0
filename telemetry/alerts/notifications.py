"""Alert notifications: each opened/resolved alert POSTed once to its rule's webhook, claimed before it is sent."""

import logging
import time
from datetime import datetime

import requests
from django.db.models import Q
from django.utils import timezone

from ..models import Alert, AlertStatus

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5
WEBHOOK_ATTEMPTS = 3
WEBHOOK_BACKOFF_S = 0.5
MAX_DELIVERY_ROUNDS = 5  # evaluation rounds that retry a failing webhook before giving up


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
