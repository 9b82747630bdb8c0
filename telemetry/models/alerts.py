"""Alerting models: KPI alert rules and the alerts they open per cohort."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class AlertKpi(models.TextChoices):
    P95_LATENCY_MS = "p95_latency_ms", "p95 latency (ms)"
    CRASH_FREE_SESSIONS = "crash_free_sessions", "Crash-free sessions"
    ERRORS_PER_1K = "errors_per_1k", "Errors per 1k inferences"
    ACCELERATOR_UTILIZATION = "accelerator_utilization", "Accelerator utilization"
    # Judged by labfield (telemetry.alerts.sources), not from the rollups' KPIs: drop below the lab, in points.
    DELEGATE_FALLBACK_DRIFT = "delegate_fallback_drift", "Delegate-fallback drift (points below the lab)"
    # Judged by labfield too: an open lab regression, weighted by its cell's field population (docs/lab-field.md).
    LAB_REGRESSION = "lab_regression", "Lab regression (field impact)"


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
    # Field impact of a lab-regression alert (blank on KPI alerts): its cell's active devices and sessions per day
    # over 7 days, and the devices' share of the fleet; the alert list ranks by field_devices.
    field_devices = models.PositiveIntegerField(null=True, blank=True)
    field_sessions_per_day = models.FloatField(null=True, blank=True)
    fleet_share = models.FloatField(null=True, blank=True)
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
