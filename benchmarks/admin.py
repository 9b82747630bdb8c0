from django.contrib import admin

from .models import BenchmarkArtifact, BenchmarkOp, BenchmarkRun, BenchmarkSeries, Regression


class BenchmarkOpInline(admin.TabularInline):
    model = BenchmarkOp
    extra = 0
    fields = ("position", "name", "op_type", "delegate", "accelerated", "avg_ms", "share")
    readonly_fields = fields
    can_delete = False


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "ran_at",
        "status",
        "model_version",
        "runtime_version",
        "delegate",
        "device_model",
        "build",
        "latency_mean_ms",
    )
    list_filter = ("status", "source_format", "device_model", "runtime_version__runtime")
    list_select_related = ("model_version__ml_model", "runtime_version__runtime", "delegate__runtime", "device_model")
    search_fields = ("build", "commit", "error")
    raw_id_fields = ("series", "model_version", "runtime_version", "delegate", "device_model")
    inlines = [BenchmarkOpInline]
    date_hierarchy = "ran_at"


@admin.register(BenchmarkSeries)
class BenchmarkSeriesAdmin(admin.ModelAdmin):
    list_display = ("id", "ml_model", "precision", "runtime", "delegate", "device_model", "unstable", "baseline_run")
    list_select_related = ("ml_model", "runtime", "delegate__runtime", "device_model")
    raw_id_fields = ("baseline_run",)
    readonly_fields = ("key",)


@admin.register(Regression)
class RegressionAdmin(admin.ModelAdmin):
    list_display = ("id", "series", "metric", "change_pct", "p_value", "method", "status", "detected_at")
    list_filter = ("status", "metric", "method")
    list_select_related = ("series__ml_model", "series__delegate__runtime", "series__device_model")
    raw_id_fields = ("series", "change_run", "run_before")


@admin.register(BenchmarkArtifact)
class BenchmarkArtifactAdmin(admin.ModelAdmin):
    list_display = ("run", "filename", "size_bytes", "sha256")
    exclude = ("data",)
    raw_id_fields = ("run",)
