"""Admin for alert rules (admin-editable thresholds) and a read-only view of alerts.

Registered by one import line in telemetry/admin.py: `from . import alerts_admin  # noqa: F401`.
"""

from django.contrib import admin

from .models import Alert, AlertRule, CrashGroupAuditEvent


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kpi",
        "threshold",
        "window_hours",
        "min_sessions",
        "enabled",
        "webhook_url",
        "last_evaluated_at",
    )
    list_filter = ("kpi", "enabled")
    search_fields = ("name",)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("rule", "cohort_label", "status", "value", "threshold", "sessions", "opened_at", "resolved_at")
    list_filter = ("status", "rule")
    readonly_fields = [f.name for f in Alert._meta.fields]


@admin.register(CrashGroupAuditEvent)
class CrashGroupAuditEventAdmin(admin.ModelAdmin):
    list_display = ("crash_group", "action", "actor_name", "from_value", "to_value", "created_at")
    list_filter = ("action",)
    readonly_fields = [f.name for f in CrashGroupAuditEvent._meta.fields]
