from django.contrib import admin

from .models import Rollout, RolloutDecision


class RolloutDecisionInline(admin.TabularInline):
    model = RolloutDecision
    extra = 0
    can_delete = False
    readonly_fields = ("at", "action", "actor", "user", "automatic", "reason", "from_status", "to_status", "stage")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rollout)
class RolloutAdmin(admin.ModelAdmin):
    """Read-only here: rollouts change only through their services (the API and the rollout page)."""

    list_display = ("name", "ml_model", "baseline_version", "candidate_version", "status", "stage", "started_at")
    list_filter = ("status", "ml_model")
    inlines = [RolloutDecisionInline]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False
