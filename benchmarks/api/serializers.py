from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from benchmarks.importers.base import AUTO
from benchmarks.models import BenchmarkRun, Regression, RegressionStatus, RunStatus
from benchmarks.services import SOURCE_FORMATS, artifact_max_bytes


class BenchmarkOpSerializer(serializers.Serializer):
    name = serializers.CharField()
    op_type = serializers.CharField()
    delegate = serializers.CharField()
    accelerated = serializers.BooleanField()
    avg_ms = serializers.FloatField()
    share = serializers.FloatField(allow_null=True)
    calls = serializers.FloatField(allow_null=True)


class BenchmarkRunSerializer(serializers.ModelSerializer):
    """A run exactly as API.md reads it back (plus optional extras: the contract only grows)."""

    model = serializers.CharField(source="model_version.ml_model.slug")
    model_version = serializers.CharField(source="model_version.version")
    runtime = serializers.CharField(source="runtime_version.runtime.slug")
    runtime_version = serializers.CharField(source="runtime_version.version")
    delegate = serializers.CharField(source="delegate.slug")
    device_model = serializers.CharField(source="device_model.slug")
    latency_ms = serializers.SerializerMethodField()
    accuracy = serializers.SerializerMethodField()
    ops = BenchmarkOpSerializer(many=True)
    series = serializers.IntegerField(source="series_id")
    url = serializers.SerializerMethodField()

    class Meta:
        model = BenchmarkRun
        fields = [
            "id",
            "status",
            "model",
            "model_version",
            "runtime",
            "runtime_version",
            "delegate",
            "device_model",
            "source_format",
            "source_format_detected",
            "source_tool_version",
            "init_ms",
            "first_inference_ms",
            "latency_ms",
            "throughput_per_s",
            "peak_memory_mb",
            "accelerated_fraction",
            "accuracy",
            "ops",
            "build",
            "commit",
            "config",
            "environment",
            "error",
            "ran_at",
            "model_size_mb",
            "energy_mj_per_inference",
            "series",
            "url",
        ]

    def get_latency_ms(self, run: BenchmarkRun) -> dict:
        return {
            "count": run.latency_count,
            "mean": run.latency_mean_ms,
            "std": run.latency_std_ms,
            "min": run.latency_min_ms,
            "max": run.latency_max_ms,
            "p50": run.latency_p50_ms,
            "p90": run.latency_p90_ms,
            "p95": run.latency_p95_ms,
            "p99": run.latency_p99_ms,
        }

    def get_accuracy(self, run: BenchmarkRun) -> dict:
        return {
            "metric": run.accuracy_metric or None,
            "value": run.accuracy_value,
            "delta_vs_reference": run.accuracy_delta,
        }

    def get_url(self, run: BenchmarkRun) -> str:
        return f"/benchmarks/runs/{run.id}/"


class LatencyInputSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    mean = serializers.FloatField(min_value=0, required=False, allow_null=True)
    std = serializers.FloatField(min_value=0, required=False, allow_null=True)
    min = serializers.FloatField(min_value=0, required=False, allow_null=True)
    max = serializers.FloatField(min_value=0, required=False, allow_null=True)
    p50 = serializers.FloatField(min_value=0, required=False, allow_null=True)
    p90 = serializers.FloatField(min_value=0, required=False, allow_null=True)
    p95 = serializers.FloatField(min_value=0, required=False, allow_null=True)
    p99 = serializers.FloatField(min_value=0, required=False, allow_null=True)
    samples = serializers.ListField(child=serializers.FloatField(min_value=0), required=False, max_length=100_000)


class AccuracyInputSerializer(serializers.Serializer):
    metric = serializers.CharField(max_length=40, required=False, allow_blank=True)
    value = serializers.FloatField(required=False, allow_null=True)


class OpInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    op_type = serializers.CharField(max_length=120, required=False, allow_blank=True)
    delegate = serializers.CharField(max_length=80, required=False, default="cpu")
    accelerated = serializers.BooleanField(required=False)
    avg_ms = serializers.FloatField(min_value=0)
    share = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    calls = serializers.FloatField(min_value=0, required=False, allow_null=True)


class RunIdentityInputSerializer(serializers.Serializer):
    model = serializers.SlugField(max_length=80)
    model_version = serializers.CharField(max_length=40)
    runtime = serializers.SlugField(max_length=40)
    runtime_version = serializers.CharField(max_length=40)
    delegate = serializers.SlugField(max_length=40)
    device_model = serializers.SlugField(max_length=80)
    build = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    commit = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    config = serializers.JSONField(required=False, default=dict)
    environment = serializers.JSONField(required=False, default=dict)
    ran_at = serializers.DateTimeField(required=False, allow_null=True)
    accuracy_metric = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    accuracy_value = serializers.FloatField(required=False, allow_null=True)
    register_versions = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Register an unknown model version / runtime version instead of refusing the run (lab CI)",
    )

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object (threads, batch, precision flags, ...)")
        return value

    def validate_environment(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object (os, driver, thermal/power mode, ...)")
        return value


class RunJsonInputSerializer(RunIdentityInputSerializer):
    """A run posted as JSON: identity plus metrics."""

    status = serializers.ChoiceField(choices=[RunStatus.DONE, RunStatus.FAILED], default=RunStatus.DONE)
    error = serializers.CharField(required=False, allow_blank=True, default="")
    init_ms = serializers.FloatField(min_value=0, required=False, allow_null=True)
    first_inference_ms = serializers.FloatField(min_value=0, required=False, allow_null=True)
    latency_ms = LatencyInputSerializer(required=False, allow_null=True)
    throughput_per_s = serializers.FloatField(min_value=0, required=False, allow_null=True)
    peak_memory_mb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    model_size_mb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    accelerated_fraction = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    accuracy = AccuracyInputSerializer(required=False, allow_null=True)
    energy_mj_per_inference = serializers.FloatField(min_value=0, required=False, allow_null=True)
    ops = OpInputSerializer(many=True, required=False, default=list)


class RunArtifactInputSerializer(RunIdentityInputSerializer):
    """A runtime's own output uploaded as multipart, with the identity fields."""

    format = serializers.ChoiceField(
        choices=[AUTO, *SOURCE_FORMATS], default=AUTO, help_text="auto: recognise the tool from the content"
    )
    artifact = serializers.FileField(allow_empty_file=True)
    runtime_version = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")

    def validate_artifact(self, upload):
        limit = artifact_max_bytes()
        if upload.size > limit:
            raise serializers.ValidationError(
                f"the file is {upload.size:,} bytes, over the upload limit of {limit:,} bytes"
            )
        return upload


class FieldPopulationSerializer(serializers.Serializer):
    """The field population of a regression's cell over the last 7 days (docs/lab-field.md)."""

    in_field = serializers.BooleanField(help_text="False: no device ran the cell in the last 7 days")
    active_devices = serializers.IntegerField()
    sessions_per_day = serializers.FloatField()
    fleet_share = serializers.FloatField(allow_null=True, help_text="active_devices ÷ the fleet's active devices")
    fleet_devices = serializers.IntegerField()


class RegressionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="series.ml_model.slug", read_only=True)
    precision = serializers.CharField(source="series.precision", read_only=True)
    runtime = serializers.CharField(source="series.runtime.slug", read_only=True)
    delegate = serializers.CharField(source="series.delegate.slug", read_only=True)
    device_model = serializers.CharField(source="series.device_model.slug", read_only=True)
    config = serializers.JSONField(source="series.config", read_only=True)
    triaged_by = serializers.CharField(source="triaged_by.username", read_only=True, default=None, allow_null=True)
    field_population = serializers.SerializerMethodField()

    class Meta:
        model = Regression
        fields = [
            "id",
            "series",
            "model",
            "precision",
            "runtime",
            "delegate",
            "device_model",
            "config",
            "metric",
            "change_run",
            "run_before",
            "before_value",
            "after_value",
            "change_pct",
            "statistic",
            "p_value",
            "confidence",
            "method",
            "status",
            "detected_at",
            "triaged_by",
            "triaged_at",
            "field_population",
        ]
        read_only_fields = [name for name in fields if name != "status"]

    @extend_schema_field(FieldPopulationSerializer(allow_null=True))
    def get_field_population(self, regression) -> dict | None:
        """From benchmarks.field_impact's annotations; null when no app supplies them."""
        if not hasattr(regression, "field_devices"):
            return None
        share = regression.fleet_share
        return {
            "in_field": regression.field_devices > 0,
            "active_devices": regression.field_devices,
            "sessions_per_day": round(regression.field_sessions_per_day, 3),
            "fleet_share": None if share is None else round(share, 6),
            "fleet_devices": regression.field_fleet_devices,
        }


class RegressionStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RegressionStatus.choices)
