"""AlertKpi gains delegate-fallback drift (judged by labfield through telemetry.alerts.sources), with a default rule
like the other KPIs' (0004): threshold and minimum sessions blank, so LAB_FIELD_DRIFT_* apply."""

from django.db import migrations, models

DEFAULT_NAME = "Delegate-fallback drift: the field falls back where the lab ran on the accelerator"


def create_default(apps, schema_editor):
    AlertRule = apps.get_model("telemetry", "AlertRule")
    if not AlertRule.objects.filter(kpi="delegate_fallback_drift").exists():
        AlertRule.objects.create(name=DEFAULT_NAME, kpi="delegate_fallback_drift")


class Migration(migrations.Migration):
    dependencies = [
        ("telemetry", "0011_crash_group_unmerge"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alertrule",
            name="kpi",
            field=models.CharField(
                choices=[
                    ("p95_latency_ms", "p95 latency (ms)"),
                    ("crash_free_sessions", "Crash-free sessions"),
                    ("errors_per_1k", "Errors per 1k inferences"),
                    ("accelerator_utilization", "Accelerator utilization"),
                    ("delegate_fallback_drift", "Delegate-fallback drift (points below the lab)"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(create_default, migrations.RunPython.noop),
    ]
