"""Compat API serializers: foreign keys are read and written as slugs or natural keys, never as bare ids."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import (
    CompatEntry,
    CompatEvidence,
    CompatStatus,
    Delegate,
    DeviceModel,
    MLModel,
    ModelVersion,
    Runtime,
    RuntimeVersion,
)


@extend_schema_field(OpenApiTypes.STR)
class NaturalKeyRelatedField(serializers.RelatedField):
    """A foreign key written as "a<sep>b" (tflite@2.16.1, yolov8n@8.1-int8, tflite/gpu)."""

    default_error_messages = {
        "does_not_exist": "Unknown {name}: {value}.",
        "invalid": "Expected a string of the form a{sep}b.",
    }

    def __init__(self, *, separator: str, lookups: tuple[str, str], **kwargs):
        self.separator, self.lookups = separator, lookups
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        left = value
        for part in self.lookups[0].split("__"):
            left = getattr(left, part)
        return f"{left}{self.separator}{getattr(value, self.lookups[1])}"

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", sep=self.separator)
        left, sep, right = data.partition(self.separator)
        if not sep or not left or not right or "\x00" in data:
            self.fail("invalid", sep=self.separator)
        try:
            return self.get_queryset().get(**{self.lookups[0]: left, self.lookups[1]: right})
        except self.get_queryset().model.DoesNotExist:
            self.fail("does_not_exist", name=self.get_queryset().model._meta.verbose_name, value=data)


def _slug(model, source: str | None = None) -> serializers.SlugRelatedField:
    kwargs = {"source": source} if source else {}
    return serializers.SlugRelatedField(slug_field="slug", queryset=model.objects.all(), **kwargs)


class DeviceModelSerializer(serializers.ModelSerializer):
    # A list of short strings, not any JSON: CharField refuses NUL, which PostgreSQL's jsonb cannot store (was a 500).
    accelerators = serializers.ListField(child=serializers.CharField(max_length=16), max_length=8, required=False)

    class Meta:
        model = DeviceModel
        fields = [
            "id",
            "slug",
            "vendor",
            "name",
            "soc",
            "os_family",
            "ram_mb",
            "accelerators",
            "tier",
            "memory_budget_mb",
        ]


class RuntimeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Runtime
        fields = ["id", "slug", "name"]


class RuntimeVersionSerializer(serializers.ModelSerializer):
    runtime = _slug(Runtime)
    key = serializers.SerializerMethodField(help_text="Natural key used by filters and entries: runtime@version")

    class Meta:
        model = RuntimeVersion
        fields = ["id", "key", "runtime", "version", "released_on", "first_seen_at"]
        read_only_fields = ["first_seen_at"]

    def get_key(self, obj) -> str:
        return f"{obj.runtime.slug}@{obj.version}"


class DelegateSerializer(serializers.ModelSerializer):
    runtime = _slug(Runtime)
    key = serializers.SerializerMethodField(help_text="Natural key used by filters and entries: runtime/slug")

    class Meta:
        model = Delegate
        fields = ["id", "key", "slug", "runtime", "name", "kind"]

    def get_key(self, obj) -> str:
        return f"{obj.runtime.slug}/{obj.slug}"


class MLModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = MLModel
        fields = ["id", "slug", "name", "task", "description"]


class ModelVersionSerializer(serializers.ModelSerializer):
    model = _slug(MLModel, source="ml_model")
    key = serializers.SerializerMethodField(help_text="Natural key used by filters and entries: model@version")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "key",
            "model",
            "version",
            "format",
            "precision",
            "size_bytes",
            "sha256",
            "accuracy_metric",
            "reference_accuracy",
            "first_seen_at",
        ]
        read_only_fields = ["first_seen_at"]

    def get_key(self, obj) -> str:
        return f"{obj.ml_model.slug}@{obj.version}"


class CompatEvidenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = CompatEvidence
        exclude = ["entry"]


class CompatEntrySerializer(serializers.ModelSerializer):
    model_version = NaturalKeyRelatedField(
        separator="@", lookups=("ml_model__slug", "version"), queryset=ModelVersion.objects.select_related("ml_model")
    )
    runtime_version = NaturalKeyRelatedField(
        separator="@", lookups=("runtime__slug", "version"), queryset=RuntimeVersion.objects.select_related("runtime")
    )
    delegate = NaturalKeyRelatedField(
        separator="/", lookups=("runtime__slug", "slug"), queryset=Delegate.objects.select_related("runtime")
    )
    device_model = _slug(DeviceModel)
    status = serializers.CharField(read_only=True, help_text="What the matrix shows: override if set, else derived")
    override_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    override_status = serializers.ChoiceField(
        choices=[("", "no override"), *CompatStatus.choices], read_only=True, help_text="'' when not overridden"
    )
    evidence = CompatEvidenceSerializer(many=True, read_only=True)

    class Meta:
        model = CompatEntry
        fields = [
            "id",
            "model_version",
            "runtime_version",
            "delegate",
            "device_model",
            "status",
            "derived_status",
            "derived_reason",
            "override_status",
            "override_reason",
            "override_by",
            "override_at",
            "known_issues",
            "p95_latency_ms",
            "latency_budget_ms",
            "crash_free_sessions",
            "accelerated_fraction",
            "sample_size",
            "evidence_updated_at",
            "updated_at",
            "evidence",
        ]
        read_only_fields = [
            "derived_status",
            "derived_reason",
            "override_status",
            "override_reason",
            "override_at",
            "p95_latency_ms",
            "latency_budget_ms",
            "crash_free_sessions",
            "accelerated_fraction",
            "sample_size",
            "evidence_updated_at",
            "updated_at",
        ]

    def validate(self, attrs):
        runtime_version = attrs.get("runtime_version") or getattr(self.instance, "runtime_version", None)
        delegate = attrs.get("delegate") or getattr(self.instance, "delegate", None)
        if runtime_version and delegate and runtime_version.runtime_id != delegate.runtime_id:
            raise serializers.ValidationError({"delegate": "The delegate belongs to another runtime."})
        return attrs


class OverrideInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CompatStatus.choices)
    reason = serializers.CharField(allow_blank=False, trim_whitespace=True)


class OverrideClearInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")
