from django.apps import AppConfig


class LabFieldConfig(AppConfig):
    name = "labfield"
    verbose_name = "Lab vs field"

    def ready(self) -> None:
        # compat, telemetry and benchmarks sit below this app and may not import it: it hands them its figures here (imported
        # inside ready(): app modules load before the models registry is ready).
        from benchmarks.field_impact import regression_impact_register
        from compat.panels import cell_panel_register, matrix_coverage_register, matrix_overlay_register
        from telemetry.alerts.sources import alert_source_register
        from telemetry.models import AlertKpi

        from .field import regressions_impact_annotate
        from .overlay import matrix_gap_overlay
        from .panels import cell_drift_panel, cell_gap_panel, matrix_coverage
        from .regression_alerts import regression_alert_source
        from .services import drift_alert_source

        cell_panel_register(cell_gap_panel)
        cell_panel_register(cell_drift_panel)
        alert_source_register(AlertKpi.DELEGATE_FALLBACK_DRIFT, drift_alert_source)
        alert_source_register(AlertKpi.LAB_REGRESSION, regression_alert_source)
        matrix_coverage_register(matrix_coverage)
        matrix_overlay_register(name="gap", label="Lab-vs-field gap (p95 ratio, 7 days)", provider=matrix_gap_overlay)
        regression_impact_register(regressions_impact_annotate)
