"""Output shapes of the gap API, read off the selectors' dataclasses (numbers rounded as export.rounded rounds)."""

from rest_framework import serializers


class RoundedFloat(serializers.FloatField):
    def __init__(self, *, digits: int = 3, **kwargs):
        self.digits = digits
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return None if value is None else round(float(value), self.digits)


class LabFigureSerializer(serializers.Serializer):
    runs = serializers.IntegerField(read_only=True)
    p50_ms = RoundedFloat(help_text="Median of the runs' p50")
    p95_ms = RoundedFloat(help_text="Median of the runs' p95")
    last_run_id = serializers.IntegerField(read_only=True)
    last_ran_at = serializers.DateTimeField(read_only=True)
    energy_mj_per_inference = RoundedFloat(help_text="Median of the runs' energy per inference; null: not reported")


class FieldFigureSerializer(serializers.Serializer):
    sessions = serializers.IntegerField(read_only=True)
    devices = serializers.IntegerField(read_only=True, help_text="Distinct devices (exact)")
    p50_ms = RoundedFloat(help_text="p50 of the merged latency histograms")
    p95_ms = RoundedFloat(help_text="p95 of the merged latency histograms")


class RatioSerializer(serializers.Serializer):
    p50 = RoundedFloat(help_text="field p50 ÷ lab p50")
    p95 = RoundedFloat(help_text="field p95 ÷ lab p95")


class SplitRowSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True, help_text="Thermal group, or the OS version")
    label = serializers.CharField(read_only=True)
    field = FieldFigureSerializer(read_only=True)
    ratio = RatioSerializer(read_only=True)
    flagged = serializers.BooleanField(read_only=True)


class CellGapSerializer(serializers.Serializer):
    cell_id = serializers.IntegerField(source="entry_id", read_only=True, allow_null=True, help_text="Compat cell")
    model = serializers.CharField(source="labels.model", read_only=True)
    model_version = serializers.CharField(source="labels.model_version", read_only=True)
    runtime = serializers.CharField(source="labels.runtime", read_only=True)
    runtime_version = serializers.CharField(source="labels.runtime_version", read_only=True)
    delegate = serializers.CharField(source="labels.delegate", read_only=True)
    device_model = serializers.CharField(source="labels.device_model", read_only=True)
    lab = LabFigureSerializer(read_only=True, allow_null=True)
    field_7d = FieldFigureSerializer(read_only=True)
    field_30d = FieldFigureSerializer(read_only=True)
    ratio_7d = RatioSerializer(read_only=True)
    ratio_30d = RatioSerializer(read_only=True)
    flagged = serializers.BooleanField(read_only=True, help_text="7-day p95 ratio above LAB_FIELD_GAP_RATIO")


class EnergySerializer(serializers.Serializer):
    mj_per_inference = RoundedFloat(help_text="Σ(energy × inferences) ÷ Σ inferences of reporting sessions; null: none")
    sessions = serializers.IntegerField(read_only=True, help_text="Sessions reporting energy")


class ThermalRowSerializer(serializers.Serializer):
    device_model = serializers.CharField(read_only=True)
    thermal_state = serializers.CharField(source="state", read_only=True, help_text='Lower-cased; "" not reported')
    throttled = serializers.BooleanField(read_only=True, help_text="In LAB_FIELD_THROTTLED_STATES")
    sessions = serializers.IntegerField(read_only=True)
    devices = serializers.IntegerField(read_only=True, help_text="Distinct devices (exact)")
    inferences = serializers.IntegerField(read_only=True)
    p50_ms = RoundedFloat(help_text="p50 of the merged latency histograms")
    p95_ms = RoundedFloat(help_text="p95 of the merged latency histograms")
    energy = EnergySerializer(read_only=True)


class ThermalStateSerializer(serializers.Serializer):
    state = ThermalRowSerializer(source="row", read_only=True)
    ratio = RatioSerializer(read_only=True)
    share = RoundedFloat(digits=4, help_text="Of the cell's sessions in the thermal window")


class CellGapDetailSerializer(CellGapSerializer):
    thermal = SplitRowSerializer(many=True, read_only=True, help_text="Last 7 days by thermal group (thermal rollups)")
    os_versions = SplitRowSerializer(many=True, read_only=True, help_text="Last 7 days by OS version")
    flagged_parts = serializers.ListField(child=serializers.CharField(), read_only=True)
    thermal_states = ThermalStateSerializer(
        many=True, read_only=True, help_text="Last 7 days by reported state (rollups)"
    )
    energy_7d = EnergySerializer(
        read_only=True, allow_null=True, help_text="Field energy, last 7 days (thermal rollups)"
    )


class FleetPathSerializer(serializers.Serializer):
    runtime = serializers.CharField(read_only=True)
    delegate = serializers.CharField(read_only=True)
    sessions = serializers.IntegerField(read_only=True, help_text="Sessions of the pair on this path in the range")


class CoverageGapSerializer(serializers.Serializer):
    rank = serializers.IntegerField(read_only=True, help_text="1 = most active devices")
    model = serializers.CharField(read_only=True)
    model_version = serializers.CharField(read_only=True)
    device_model = serializers.CharField(read_only=True)
    vendor = serializers.CharField(read_only=True)
    devices = serializers.IntegerField(read_only=True, help_text="Distinct devices active in the pair (exact)")
    device_share = RoundedFloat(digits=4, help_text="devices ÷ the device-pairs of every active pair")
    sessions = serializers.IntegerField(read_only=True)
    fleet_paths = FleetPathSerializer(source="paths", many=True, read_only=True, help_text="Most sessions first")


class LabPlacementSerializer(serializers.Serializer):
    run_id = serializers.IntegerField(read_only=True)
    ran_at = serializers.DateTimeField(read_only=True)
    accelerated_fraction = RoundedFloat(digits=4, help_text="The run's accelerated fraction")
    delegated_ops = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="On the accelerator")


class DriftPartSerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True, help_text="The OS / app / firmware version ('' for the whole cell)")
    sessions = serializers.IntegerField(read_only=True)
    accelerated_fraction = RoundedFloat(digits=4, help_text="Inference-weighted mean of the sessions' fraction")
    points = RoundedFloat(digits=2, help_text="(lab − field) × 100")
    drifting = serializers.BooleanField(read_only=True)
    since = serializers.DateField(read_only=True, allow_null=True, help_text="First day of the current run below")


class FallbackOpSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    sessions = serializers.IntegerField(read_only=True)
    share = RoundedFloat(digits=4, help_text="÷ the cell's field sessions in the raw window")


class CellDriftSerializer(serializers.Serializer):
    cell_id = serializers.IntegerField(source="entry_id", read_only=True, allow_null=True, help_text="Compat cell")
    model = serializers.CharField(source="labels.model", read_only=True)
    model_version = serializers.CharField(source="labels.model_version", read_only=True)
    runtime = serializers.CharField(source="labels.runtime", read_only=True)
    runtime_version = serializers.CharField(source="labels.runtime_version", read_only=True)
    delegate = serializers.CharField(source="labels.delegate", read_only=True)
    device_model = serializers.CharField(source="labels.device_model", read_only=True)
    lab = LabPlacementSerializer(read_only=True)
    field = DriftPartSerializer(read_only=True, help_text="The whole cell, last 7 days")
    worst_points = RoundedFloat(digits=2, help_text="The drifting part furthest below the lab, else the cell's")
    drifting = serializers.BooleanField(read_only=True)
    drifting_parts = serializers.ListField(child=serializers.CharField(), read_only=True)
    since = serializers.DateField(read_only=True, allow_null=True)
    fallback_ops = FallbackOpSerializer(source="ops", many=True, read_only=True, help_text="Lab-delegated, fell back")
    devices_affected = serializers.IntegerField(read_only=True, help_text="Devices with a session that fell back")
    os_versions = serializers.SerializerMethodField()
    app_versions = serializers.SerializerMethodField()
    firmware = serializers.SerializerMethodField()

    def get_os_versions(self, drift) -> list[str]:
        """The drifting OS versions."""
        return drift.versions(drift.os_versions)

    def get_app_versions(self, drift) -> list[str]:
        """The drifting app versions."""
        return drift.versions(drift.app_versions)

    def get_firmware(self, drift) -> list[str]:
        """The drifting firmware versions."""
        return drift.versions(drift.firmware)


class CellDriftDetailSerializer(CellDriftSerializer):
    os_split = DriftPartSerializer(source="os_versions", many=True, read_only=True, help_text="Per OS version")
    app_split = DriftPartSerializer(source="app_versions", many=True, read_only=True, help_text="Per app version")
    firmware_split = DriftPartSerializer(source="firmware", many=True, read_only=True, help_text="Per firmware")
    raw_sessions = serializers.IntegerField(read_only=True, help_text="Sessions of the raw window (ops' denominator)")
