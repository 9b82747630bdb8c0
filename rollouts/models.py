"""Rollouts: one ML model moved from a baseline to a candidate version in stages, and the audit of its decisions."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from compat.models import MLModel, ModelVersion


class RolloutStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    ROLLED_BACK = "rolled_back", "Rolled back"
    COMPLETED = "completed", "Completed"


ACTIVE_STATUSES = (RolloutStatus.DRAFT, RolloutStatus.RUNNING, RolloutStatus.PAUSED)
LIVE_STATUSES = (RolloutStatus.RUNNING, RolloutStatus.PAUSED)
ENDED_STATUSES = (RolloutStatus.ROLLED_BACK, RolloutStatus.COMPLETED)


class OnFailure(models.TextChoices):
    PAUSE = "pause", "Pause"
    ROLLBACK = "rollback", "Roll back"


class Decision(models.TextChoices):
    PROCEED = "proceed", "Proceed"
    HOLD = "hold", "Hold"
    FAIL = "fail", "Fail"
    BLOCKED = "blocked", "Blocked"


class Action(models.TextChoices):
    CREATE = "create", "Create"
    START = "start", "Start"
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    ADVANCE = "advance", "Advance"
    ROLLBACK = "rollback", "Roll back"
    COMPLETE = "complete", "Complete"
    EVALUATE = "evaluate", "Evaluate"


class Rollout(models.Model):
    """A staged move of one ML model from a baseline to a candidate version over a scope of the fleet."""

    name = models.CharField(max_length=200)
    ml_model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="rollouts")
    baseline_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    candidate_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    scope = models.JSONField(default=dict, help_text="Cohort filters: device_model, tier, os_version, app_version")
    stages = models.JSONField(default=list, help_text="[{percent, min_hours, min_sessions}], percent increasing")
    control_percent = models.PositiveSmallIntegerField(default=5)
    guardrails = models.JSONField(default=list, help_text="[{kpi, max_regression, per_device_model}]")
    on_failure = models.CharField(max_length=8, choices=OnFailure.choices, default=OnFailure.PAUSE)
    auto_advance = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=RolloutStatus.choices, default=RolloutStatus.DRAFT)
    stage = models.PositiveSmallIntegerField(default=0)
    stage_started_at = models.DateTimeField(null=True, blank=True, help_text="Start of the current stage's window")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Completed or rolled back")
    # The last evaluation as the API shows it: {decision, reasons, evaluated_at}, guardrail rows, arm summaries.
    verdict = models.JSONField(null=True, blank=True)
    guardrail_results = models.JSONField(default=list, blank=True)
    arms = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # assignment reads a model's live and ended rollouts on every device request
            models.Index(fields=["ml_model", "status"], name="rollout_model_status_idx"),
            models.Index(fields=["status", "ended_at"], name="rollout_status_ended_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_last_stage(self) -> bool:
        return self.stage >= len(self.stages) - 1

    @property
    def current_stage(self) -> dict:
        return self.stages[min(self.stage, len(self.stages) - 1)] if self.stages else {}

    @property
    def percent(self) -> int:
        return int(self.current_stage.get("percent", 0))


class RolloutDecision(models.Model):
    """One decision on a rollout — by a person, a key or the guardrails — with when and why."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=12, choices=Action.choices)
    actor = models.CharField(max_length=150, help_text="A username, 'apikey:<name>' or 'guardrails'")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    from_status = models.CharField(max_length=12, choices=RolloutStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=RolloutStatus.choices, blank=True)
    stage = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["rollout", "at"], name="rolloutdecision_rollout_at_idx")]

    def __str__(self) -> str:
        return f"{self.action} on rollout {self.rollout_id} by {self.actor}"


class ReleaseKpi(models.TextChoices):
    DEPLOYMENT_LEAD_TIME = "deployment_lead_time", "Deployment lead time"
    ROLLOUT_SUCCESS_RATE = "rollout_success_rate", "Rollout success rate"
    MTTR = "mttr", "MTTR of inference incidents"
    DEFECT_ESCAPE_RATE = "defect_escape_rate", "Post-release defect escape rate"
    UNSUPPORTED_OPERATOR_INCIDENCE = "unsupported_operator_incidence", "Unsupported-operator incidence"
    OBSERVABILITY_COVERAGE = "observability_coverage", "Observability coverage"


class ReleaseKpiTarget(models.Model):
    """The target of one release KPI on the home page, edited by admins (absent: the default in rollouts.kpis)."""

    kpi = models.CharField(max_length=40, choices=ReleaseKpi.choices, unique=True)
    target = models.FloatField(help_text="Hours for lead time and MTTR; a share 0–1 for the others")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kpi"]

    def __str__(self) -> str:
        return f"{self.get_kpi_display()}: {self.target:g}"
