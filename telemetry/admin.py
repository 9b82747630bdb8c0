"""Admin for telemetry: read-mostly views of devices, sessions, crashes and crash groups; alert rules (admin-edited
thresholds), a read-only view of alerts and of the triage audit trail."""

from django.contrib import admin

from .models import Alert, AlertRule, CrashGroup, CrashGroupAuditEvent, CrashReport, Device, InferenceSession


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["uid", "device_model", "os_version", "app_version", "firmware", "last_seen_at"]
    list_filter = ["device_model"]
    search_fields = ["uid"]
    list_select_related = ["device_model"]
    readonly_fields = ["first_seen_at", "last_seen_at"]


@admin.register(InferenceSession)
class InferenceSessionAdmin(admin.ModelAdmin):
    list_display = ["event_id", "device", "model_version", "runtime_version", "delegate", "started_at", "clock_flag",
                    "inferences", "errors", "has_crash"]  # fmt: skip
    list_filter = ["clock_flag", "has_crash"]
    search_fields = ["event_id", "session_id", "device__uid"]
    list_select_related = ["device", "model_version__ml_model", "runtime_version__runtime", "delegate__runtime"]
    raw_id_fields = ["device", "device_model", "model_version", "runtime_version", "delegate"]
    date_hierarchy = "started_at"
    show_full_result_count = False  # the raw table is large; an exact count(*) per page is not worth it


@admin.register(CrashReport)
class CrashReportAdmin(admin.ModelAdmin):
    list_display = ["event_id", "device", "kind", "signal", "exception_type", "group", "occurred_at", "app_version"]
    list_filter = ["kind", "clock_flag"]
    search_fields = ["event_id", "session_id", "device__uid", "fingerprint"]
    list_select_related = ["device", "group"]
    raw_id_fields = ["device", "inference_session", "group", "device_model", "model_version", "runtime_version",
                     "delegate"]  # fmt: skip
    show_full_result_count = False


@admin.register(CrashGroup)
class CrashGroupAdmin(admin.ModelAdmin):
    list_display = ["title", "status", "event_count", "device_count", "first_seen_at", "last_seen_at", "assignee"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "culprit", "fingerprint"]
    raw_id_fields = ["assignee"]
    readonly_fields = ["fingerprint", "event_count", "device_count", "first_seen_at", "last_seen_at"]


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
