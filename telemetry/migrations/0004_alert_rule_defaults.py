"""Default alert rules: one per KPI, threshold blank so the SLO target (per tier for latency) applies."""

from django.db import migrations

DEFAULTS = (
    ("p95 latency misses its tier budget", "p95_latency_ms"),
    ("Crash-free sessions below target", "crash_free_sessions"),
    ("Errors per 1k above target", "errors_per_1k"),
    ("Accelerator utilization below target", "accelerator_utilization"),
)


def create_defaults(apps, schema_editor):
    AlertRule = apps.get_model("telemetry", "AlertRule")
    if not AlertRule.objects.exists():
        AlertRule.objects.bulk_create([AlertRule(name=name, kpi=kpi) for name, kpi in DEFAULTS])


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_rollups")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
