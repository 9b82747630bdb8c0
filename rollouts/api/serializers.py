"""Rollout API shapes (API.md Rollouts). Input is validated by rollouts.validation; these describe it for the schema."""

from rest_framework import serializers

from ..guardrails import KPI_SPECS
from ..models import OnFailure, Rollout


class StageSerializer(serializers.Serializer):
    percent = serializers.IntegerField(min_value=1, max_value=100)
    min_hours = serializers.FloatField(min_value=0, required=False, default=0)
    min_sessions = serializers.IntegerField(min_value=0, required=False, default=0)


class GuardrailSerializer(serializers.Serializer):
    kpi = serializers.ChoiceField(choices=sorted(KPI_SPECS))
    max_regression = serializers.FloatField(
        required=False, help_text="Absolute for shares and rates, relative for p95s"
    )
    per_device_model = serializers.BooleanField(required=False, default=False)


class ScopeSerializer(serializers.Serializer):
    device_model = serializers.ListField(child=serializers.CharField(), required=False)
    tier = serializers.ListField(child=serializers.IntegerField(), required=False)
    os_version = serializers.ListField(child=serializers.CharField(), required=False)
    app_version = serializers.ListField(child=serializers.CharField(), required=False)


class RolloutInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    model = serializers.CharField(help_text="ML model slug")
    baseline_version = serializers.CharField()
    candidate_version = serializers.CharField()
    scope = ScopeSerializer(required=False)
    stages = StageSerializer(many=True)
    control_percent = serializers.IntegerField(min_value=1, max_value=50, default=5)
    guardrails = GuardrailSerializer(many=True, required=False)
    on_failure = serializers.ChoiceField(choices=OnFailure.values, default=OnFailure.PAUSE)
    auto_advance = serializers.BooleanField(default=False)


class ActionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Required for pause, rollback, manual advance"
    )
    stage = serializers.IntegerField(
        required=False,
        help_text="advance only: the stage you expect to be current (a retried call then cannot skip one)",
    )


def _decisions(rollout: Rollout) -> list[dict]:
    return [
        {"at": d.at, "action": d.action, "by": d.actor, "reason": d.reason, "automatic": d.automatic,
         "from_status": d.from_status, "to_status": d.to_status, "stage": d.stage}
        for d in rollout.decisions.all()
    ]  # fmt: skip


def _guardrail_rows(rollout: Rollout) -> list[dict]:
    if rollout.guardrail_results:
        return rollout.guardrail_results
    return [
        {"kpi": g["kpi"], "state": "insufficient_data", "candidate": None, "control": None, "difference": None,
         "p_value": None, "device_model": None}
        for g in rollout.guardrails
    ]  # fmt: skip


def _arms(rollout: Rollout) -> dict:
    empty = {"devices": 0, "sessions": 0, "kpis": {}}
    return {"candidate": rollout.arms.get("candidate", empty), "control": rollout.arms.get("control", empty)}


class RolloutSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="ml_model.slug")
    baseline_version = serializers.CharField(source="baseline_version.version")
    candidate_version = serializers.CharField(source="candidate_version.version")
    percent = serializers.IntegerField()
    verdict = serializers.JSONField()
    arms = serializers.SerializerMethodField()
    guardrails = serializers.SerializerMethodField()
    guardrail_config = serializers.JSONField(source="guardrails")
    decisions = serializers.SerializerMethodField()

    class Meta:
        model = Rollout
        fields = [
            "id", "name", "model", "baseline_version", "candidate_version", "status", "stage", "percent",
            "started_at", "stage_started_at", "ended_at", "verdict", "arms", "guardrails", "decisions",
            "scope", "stages", "control_percent", "guardrail_config", "on_failure", "auto_advance", "created_at",
        ]  # fmt: skip

    def get_arms(self, rollout: Rollout) -> dict:
        return _arms(rollout)

    def get_guardrails(self, rollout: Rollout) -> list[dict]:
        return _guardrail_rows(rollout)

    def get_decisions(self, rollout: Rollout) -> list[dict]:
        return _decisions(rollout)


class AssignmentSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.CharField(allow_null=True)
    rollout = serializers.IntegerField(allow_null=True)
    arm = serializers.ChoiceField(choices=["candidate", "control", "none"])
    stage = serializers.IntegerField(allow_null=True)
    ttl_s = serializers.IntegerField()
