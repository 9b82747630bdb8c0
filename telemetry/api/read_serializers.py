"""Read API representations: devices, crash groups and the KPI body of API.md."""

from rest_framework import serializers

from ..models import CrashGroup, CrashReport, Device


class DeviceSerializer(serializers.ModelSerializer):
    device_model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    vendor = serializers.CharField(source="device_model.vendor", read_only=True)
    tier = serializers.IntegerField(source="device_model.tier", read_only=True)

    class Meta:
        model = Device
        fields = [
            "uid", "device_model", "vendor", "tier", "os_version", "app_version", "firmware", "first_seen_at",
            "last_seen_at",
        ]  # fmt: skip


class DeviceCrashGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrashGroup
        fields = ["id", "title", "kind", "status", "last_seen_at", "event_count", "device_count"]


class DeviceDetailSerializer(DeviceSerializer):
    crash_groups = serializers.SerializerMethodField()

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "crash_groups"]

    def get_crash_groups(self, device) -> list[dict]:
        """The groups this device crashed in, most recent first (prefetched by the view)."""
        return DeviceCrashGroupSerializer([link.group for link in device.crash_group_links], many=True).data


class CrashGroupSerializer(serializers.ModelSerializer):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CrashGroup
        fields = [
            "id", "fingerprint", "title", "culprit", "kind", "status", "resolved_in_version", "assignee",
            "first_seen_at", "last_seen_at", "event_count", "device_count",
        ]  # fmt: skip


class CrashSampleSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(slug_field="uid", read_only=True)
    device_model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model = serializers.CharField(source="model_version.ml_model.slug", read_only=True)
    model_version = serializers.CharField(source="model_version.version", read_only=True)
    runtime = serializers.CharField(source="runtime_version.runtime.slug", read_only=True)
    runtime_version = serializers.CharField(source="runtime_version.version", read_only=True)
    delegate = serializers.CharField(source="delegate.slug", read_only=True)

    class Meta:
        model = CrashReport
        fields = [
            "event_id", "device", "device_model", "model", "model_version", "runtime", "runtime_version", "delegate",
            "app_version", "os_version", "occurred_at", "kind", "signal", "exception_type", "message", "frames",
        ]  # fmt: skip


class CrashGroupDetailSerializer(CrashGroupSerializer):
    recent_crashes = serializers.SerializerMethodField()

    class Meta(CrashGroupSerializer.Meta):
        fields = [*CrashGroupSerializer.Meta.fields, "recent_crashes"]

    def get_recent_crashes(self, group) -> list[dict]:
        """The latest crashes of the group (prefetched by the view, at most RECENT_CRASHES)."""
        return CrashSampleSerializer(group.recent_crashes, many=True).data


class PercentilesSerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class RssPercentilesSerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class KpisSerializer(serializers.Serializer):
    """The body of GET /api/v1/telemetry/kpis/ (API.md); built by Kpis.as_api(), described here for the schema."""

    sessions = serializers.IntegerField()
    crashed_sessions = serializers.IntegerField()
    crash_free_sessions = serializers.FloatField(allow_null=True)
    inferences = serializers.IntegerField()
    errors = serializers.IntegerField()
    errors_per_1k = serializers.FloatField(allow_null=True)
    latency_ms = PercentilesSerializer()
    accelerator_utilization = serializers.FloatField(allow_null=True)
    peak_rss_mb = RssPercentilesSerializer()
    devices = serializers.IntegerField()

    def get_fields(self):
        fields = super().get_fields()
        # `from`/`to` are Python keywords: added here, first, in API.md's order.
        return {"from": serializers.DateTimeField(), "to": serializers.DateTimeField(), **fields}
