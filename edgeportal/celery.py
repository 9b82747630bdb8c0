"""The Celery app. Configuration lives in settings (CELERY_*); the periodic schedule lives here, in one place."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "edgeportal.settings")

app = Celery("edgeportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Smoke signal that beat and a worker are alive; /readyz does not depend on it.
    "edgeportal-heartbeat": {"task": "edgeportal.tasks.heartbeat", "schedule": crontab(minute="*/5")},
    # Re-closes the current and previous hour's rollups and sweeps hours still marked dirty (late events).
    "telemetry-rollup-close-hours": {
        "task": "telemetry.tasks.rollup_hours_close_task",
        "schedule": crontab(minute="*/10"),
    },
    # Creates the raw tables' day partitions RAW_PARTITIONS_AHEAD_DAYS ahead (PostgreSQL; idempotent, so hourly).
    "telemetry-raw-partitions": {
        "task": "telemetry.tasks.raw_partitions_ensure_task",
        "schedule": crontab(minute=41),
    },
    # Drops raw partitions (PostgreSQL) or deletes raw rows in chunks older than RAW_RETENTION_DAYS; rollups are kept.
    "telemetry-raw-retention": {"task": "telemetry.tasks.raw_retention_task", "schedule": crontab(hour=3, minute=17)},
    # The same retention for what the Sentry and OTLP adapters keep beside the raw rows.
    "protocols-retention": {"task": "protocols.tasks.protocol_retention_task", "schedule": crontab(hour=3, minute=47)},
    # Evaluates KPI alert rules on the rollups (opens/refreshes/resolves alerts, sends webhooks).
    "telemetry-alerts-evaluate": {
        "task": "telemetry.alerts_tasks.alerts_evaluate_task",
        "schedule": crontab(minute="2-59/5"),
    },
    # Records delegate-fallback drift as compat evidence (degrades the cell) and withdraws it when the field recovers.
    "labfield-drift-evidence": {"task": "labfield.tasks.drift_evidence_task", "schedule": crontab(minute=37)},
    # Evaluates the guardrails of every running rollout (pauses or rolls back on failure, auto-advances on proceed).
    "rollouts-evaluate": {"task": "rollouts.tasks.rollouts_evaluate_task", "schedule": crontab(minute="*/10")},
}
