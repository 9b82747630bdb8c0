"""Admin for the catalog and the matrix. Evidence is read-only: it is pushed by telemetry and benchmarks."""

from django.contrib import admin

from .models import (
    CompatEntry,
    CompatEvidence,
    CompatStatusChange,
    Delegate,
    DeviceModel,
    MLModel,
    ModelVersion,
    Runtime,
    RuntimeVersion,
)


@admin.register(DeviceModel)
class DeviceModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "vendor", "name", "soc", "os_family", "tier", "ram_mb", "memory_budget_mb"]
    list_filter = ["vendor", "tier", "os_family"]
    search_fields = ["slug", "vendor", "name", "soc"]
    prepopulated_fields = {"slug": ("vendor", "name")}


class RuntimeVersionInline(admin.TabularInline):
    model = RuntimeVersion
    extra = 0


class DelegateInline(admin.TabularInline):
    model = Delegate
    extra = 0


@admin.register(Runtime)
class RuntimeAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]
    inlines = [RuntimeVersionInline, DelegateInline]


@admin.register(RuntimeVersion)
class RuntimeVersionAdmin(admin.ModelAdmin):
    list_display = ["runtime", "version", "released_on", "first_seen_at"]
    list_filter = ["runtime"]
    search_fields = ["runtime__slug", "version"]
    list_select_related = ["runtime"]


@admin.register(Delegate)
class DelegateAdmin(admin.ModelAdmin):
    list_display = ["runtime", "slug", "name", "kind"]
    list_filter = ["runtime", "kind"]
    search_fields = ["slug", "name", "runtime__slug"]
    list_select_related = ["runtime"]


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    extra = 0
    fields = ["version", "format", "precision", "size_bytes", "accuracy_metric", "reference_accuracy"]


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "task"]
    list_filter = ["task"]
    search_fields = ["slug", "name", "description"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ModelVersionInline]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["ml_model", "version", "format", "precision", "size_bytes", "reference_accuracy", "first_seen_at"]
    list_filter = ["ml_model__task", "format", "precision", "ml_model"]
    search_fields = ["ml_model__slug", "ml_model__name", "version", "sha256"]
    list_select_related = ["ml_model"]


class CompatEvidenceInline(admin.TabularInline):
    model = CompatEvidence
    extra = 0
    can_delete = False
    fields = ["source", "source_ref", "sample_size", "p95_latency_ms", "crash_free_sessions", "load_failed", "link"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class CompatStatusChangeInline(admin.TabularInline):
    model = CompatStatusChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "kind", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CompatEntry)
class CompatEntryAdmin(admin.ModelAdmin):
    list_display = ["__str__", "derived_status", "override_status", "sample_size", "evidence_updated_at"]
    list_filter = [
        "derived_status",
        "override_status",
        "runtime_version__runtime",
        "delegate__kind",
        "device_model__vendor",
        "device_model__tier",
        "model_version__ml_model__task",
        "model_version__precision",
    ]
    search_fields = [
        "model_version__ml_model__slug",
        "model_version__version",
        "device_model__slug",
        "device_model__name",
        "runtime_version__runtime__slug",
        "delegate__slug",
        "known_issues",
    ]
    list_select_related = ["model_version__ml_model", "runtime_version__runtime", "delegate", "device_model"]
    raw_id_fields = ["model_version", "runtime_version", "delegate", "device_model"]
    # Status and overrides change only through services (history, reason); the cell page is where support edits.
    readonly_fields = [
        "derived_status",
        "derived_reason",
        "override_status",
        "override_reason",
        "override_by",
        "override_at",
        "p95_latency_ms",
        "latency_budget_ms",
        "crash_free_sessions",
        "accelerated_fraction",
        "sample_size",
        "evidence_updated_at",
        "updated_at",
    ]
    inlines = [CompatEvidenceInline, CompatStatusChangeInline]


@admin.register(CompatEvidence)
class CompatEvidenceAdmin(admin.ModelAdmin):
    list_display = ["entry", "source", "source_ref", "sample_size", "p95_latency_ms", "load_failed", "recorded_at"]
    list_filter = ["source", "load_failed"]
    search_fields = ["source_ref", "entry__device_model__slug", "entry__model_version__ml_model__slug"]
    list_select_related = [
        "entry__model_version__ml_model",
        "entry__runtime_version__runtime",
        "entry__delegate",
        "entry__device_model",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CompatStatusChange)
class CompatStatusChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "entry", "kind", "from_status", "to_status", "actor"]
    list_filter = ["kind", "to_status"]
    search_fields = ["actor", "reason", "entry__device_model__slug", "entry__model_version__ml_model__slug"]
    date_hierarchy = "changed_at"
    list_select_related = [
        "entry__model_version__ml_model",
        "entry__runtime_version__runtime",
        "entry__delegate",
        "entry__device_model",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
