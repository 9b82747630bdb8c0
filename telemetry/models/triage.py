"""Triage and alerting models: notes and an audit trail on crash groups, KPI alert rules and the alerts they open.

Imported into telemetry/models.py with one line, so Django sees them as telemetry models.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = [
    "AlertKpi", "AlertStatus", "CrashGroupAlias", "CrashGroupNote", "CrashGroupAuditEvent", "AuditAction", "AlertRule",
    "Alert",
]  # fmt: skip


class CrashGroupNote(models.Model):
    """A support engineer's free-text note on a crash group."""

    crash_group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="triage_notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Note on group {self.crash_group_id} by {self.author_id}"


class CrashGroupAlias(models.Model):
    """The fingerprint of a group merged away: its new crashes keep landing in the group it was merged into."""

    fingerprint = models.CharField(max_length=64, unique=True)
    group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.fingerprint[:12]} → group {self.group_id}"


class AuditAction(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Acknowledged"
    ASSIGN = "assign", "Assigned"
    RESOLVE = "resolve", "Resolved"
    IGNORE = "ignore", "Ignored"
    REOPEN = "reopen", "Reopened"
    STATUS = "status", "Status changed"
    NOTE = "note", "Note added"
    MERGE = "merge", "Merged"
    MERGED_INTO = "merged_into", "Merged into another group"


class CrashGroupAuditEvent(models.Model):
    """One triage action on a crash group: who did what, from which value to which; never edited."""

    crash_group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="audit_events")
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted")
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} group {self.crash_group_id}"


class AlertKpi(models.TextChoices):
    P95_LATENCY_MS = "p95_latency_ms", "p95 latency (ms)"
    CRASH_FREE_SESSIONS = "crash_free_sessions", "Crash-free sessions"
    ERRORS_PER_1K = "errors_per_1k", "Errors per 1k inferences"
    ACCELERATOR_UTILIZATION = "accelerator_utilization", "Accelerator utilization"


class AlertRule(models.Model):
    """A threshold on one KPI, evaluated per cohort over a trailing window; threshold blank = the SLO target."""

    name = models.CharField(max_length=120)
    kpi = models.CharField(max_length=32, choices=AlertKpi.choices)
    threshold = models.FloatField(null=True, blank=True, help_text="Blank: use the KPI target (per tier for latency)")
    window_hours = models.PositiveIntegerField(default=24)
    min_sessions = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the SLO min sample size")
    enabled = models.BooleanField(default=True)
    webhook_url = models.URLField(blank=True, help_text="POSTed a JSON body when an alert opens or resolves")
    last_evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """A cohort missing a rule's threshold; one open alert per (rule, cohort key), resolved when healthy again."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    cohort_key = models.CharField(max_length=200, help_text="device_model|model_version|runtime_version|delegate ids")
    cohort_label = models.CharField(max_length=300)
    cohort_filters = models.JSONField(default=dict, help_text="Query parameters of the cohort's fleet view")
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    value = models.FloatField()
    threshold = models.FloatField()
    sessions = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Webhook delivery: claimed by a conditional update so two workers never send the same notification.
    notified_open_at = models.DateTimeField(null=True, blank=True)
    notified_resolved_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # The dedupe guarantee: the database, not the evaluator, refuses a second open alert for a cohort.
            models.UniqueConstraint(
                fields=["rule", "cohort_key"], condition=Q(status="open"), name="alert_one_open_per_rule_cohort"
            ),
        ]
        indexes = [models.Index(fields=["status", "-opened_at"], name="alert_status_opened_idx")]

    def __str__(self) -> str:
        return f"{self.rule} · {self.cohort_label} ({self.status})"
