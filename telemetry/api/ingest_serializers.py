"""The ingest contract (API.md) for the OpenAPI schema only: requests are validated by telemetry.wire (msgspec)."""

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers


class IngestDeviceSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=128)
    model = serializers.SlugField(max_length=80, help_text="Catalog slug of the device model")
    os_version = serializers.CharField(max_length=80, required=False, allow_null=True)
    app_version = serializers.CharField(max_length=40, required=False, allow_null=True)
    firmware = serializers.CharField(max_length=120, required=False, allow_null=True)


class LatencyHistogramSerializer(serializers.Serializer):
    gamma = serializers.FloatField(help_text="1.01 / 0.99 (DDSketch LogarithmicMapping, alpha 0.01)")
    counts = serializers.DictField(
        child=serializers.IntegerField(min_value=0), help_text="Bucket index (decimal string) -> sample count"
    )
    zero_count = serializers.IntegerField(min_value=0, required=False, help_text="Samples below 0.001 ms")


class _EventIdentity(serializers.Serializer):
    event_id = serializers.UUIDField(help_text="Idempotency key: sending it again is a duplicate, not a new row")
    session_id = serializers.CharField(max_length=64)
    model = serializers.SlugField(max_length=80)
    model_version = serializers.CharField(max_length=40, help_text="Unknown versions are registered on first sight")
    runtime = serializers.SlugField(max_length=80)
    runtime_version = serializers.CharField(max_length=40, help_text="Unknown versions are registered on first sight")
    delegate = serializers.SlugField(max_length=80, help_text="Delegate slug of that runtime")


class IngestSessionSerializer(_EventIdentity):
    type = serializers.ChoiceField(choices=["session"])
    started_at = serializers.DateTimeField()
    duration_s = serializers.FloatField(min_value=0)
    inferences = serializers.IntegerField(min_value=0)
    errors = serializers.IntegerField(min_value=0)
    latency_ms = serializers.ListField(
        child=serializers.FloatField(min_value=0), max_length=10_000, required=False, help_text="Raw samples"
    )
    latency_histogram = LatencyHistogramSerializer(required=False, help_text="Merged with latency_ms when both")
    accelerated_fraction = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    fallback_ops = serializers.ListField(child=serializers.CharField(), required=False)
    peak_rss_mb = serializers.FloatField(min_value=0, required=False, allow_null=True)
    thermal_state = serializers.CharField(max_length=20, required=False, allow_null=True)
    energy_mj_per_inference = serializers.FloatField(
        min_value=0, required=False, allow_null=True, help_text="Millijoules per inference, when the device measures it"
    )


class CrashFrameSerializer(serializers.Serializer):
    function = serializers.CharField(required=False, allow_null=True)
    module = serializers.CharField(required=False, allow_null=True)
    offset = serializers.CharField(required=False, allow_null=True, help_text='e.g. "0x1a2b40"')
    in_app = serializers.BooleanField(required=False, default=False)


class IngestCrashSerializer(_EventIdentity):
    type = serializers.ChoiceField(choices=["crash"])
    occurred_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["native", "exception", "oom", "watchdog"])
    signal = serializers.CharField(max_length=40, required=False, allow_null=True)
    exception_type = serializers.CharField(max_length=255, required=False, allow_null=True)
    message = serializers.CharField(required=False, allow_null=True, help_text="Secrets are scrubbed before storage")
    frames = CrashFrameSerializer(many=True, required=False)


class IngestBatchSerializer(serializers.Serializer):
    device = IngestDeviceSerializer()
    sent_at = serializers.DateTimeField(required=False, help_text="Device clock at sending; corrects skew > 55 min")
    events = PolymorphicProxySerializer(
        component_name="IngestEvent",
        serializers={"session": IngestSessionSerializer, "crash": IngestCrashSerializer},
        resource_type_field_name="type",
        many=True,
        help_text="At most 1,000 events; each is accepted, a duplicate, or rejected on its own",
    )


class IngestRejectedItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in `events`")
    event_id = serializers.CharField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class IngestAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = IngestRejectedItemSerializer(many=True)


class IngestErrorSerializer(serializers.Serializer):
    error = serializers.CharField()
    detail = serializers.DictField()
