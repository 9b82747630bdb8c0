from django.contrib import admin

from .models import ReleaseKpiTarget, Rollout, RolloutDecision


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


@admin.register(ReleaseKpiTarget)
class ReleaseKpiTargetAdmin(admin.ModelAdmin):
    """The home page's release KPI targets; the KPI set is fixed by code, so only the figure is edited here."""

    list_display = ("kpi", "target", "updated_at")
    list_editable = ("target",)

    def get_readonly_fields(self, request, obj=None):
        return ("kpi",) if obj else ()
