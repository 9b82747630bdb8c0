"""Thermal rollups: sessions, inferences, latency and energy per compat cell × reported thermal state, and the devices
per day and state.

The thermal and energy attribution (labfield/thermal.py, the cell page's thermal split; docs/lab-field.md) reads
these instead of raw sessions. The state is the session's `thermal_state` lower-cased ('' = not reported), not its
thermal group: which states throttle is a setting (LAB_FIELD_THROTTLED_STATES), so reads group states, the rows never
need re-rolling when it changes.
"""

from django.db import models
from django.utils import timezone

from .fallback import FallbackCell

THERMAL_CELL_FIELDS = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
CELL_COLUMNS = ("model_version", "runtime_version", "delegate", "device_model")
THERMAL_STATE_LENGTH = 20  # InferenceSession.thermal_state's; ASCII lower-casing keeps the length
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def thermal_state_key(state: str | None) -> str:
    """The state a thermal row keys a session by: ASCII lower-cased ('' = not reported). The same in ingest's
    partials and in the raw rollup, whatever the database's collation (str.lower could lengthen a non-ASCII state)."""
    return state.translate(_ASCII_LOWER) if state else ""


class ThermalRollup(FallbackCell):
    """One cell × thermal state over one bucket; every column merges by addition (the histogram by bucket)."""

    bucket_start = models.DateTimeField(help_text="UTC start of the hour (hourly) or the day (daily)")
    thermal_state = models.CharField(
        max_length=THERMAL_STATE_LENGTH, blank=True, help_text="Lower-cased thermal_state; '' = not reported"
    )
    sessions = models.PositiveIntegerField(default=0)
    inferences = models.PositiveBigIntegerField(default=0)
    latency_histogram = models.JSONField(default=dict, help_text="Merged LatencyHistogram wire format")
    energy_sessions = models.PositiveIntegerField(default=0, help_text="Sessions reporting energy_mj_per_inference")
    energy_inferences = models.PositiveBigIntegerField(default=0, help_text="Σ inferences of those sessions")
    energy_weighted_sum = models.FloatField(default=0.0, help_text="Σ energy_mj_per_inference × inferences")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


def _unique(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["bucket_start", *CELL_COLUMNS, "thermal_state"],
        name=name,
    )


class HourlyThermalRollup(ThermalRollup):
    """One hour's thermal rows, replaced from raw sessions whenever the hourly rollup recomputes the hour."""

    class Meta:
        constraints = [_unique("hourlythermalrollup_unique")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} {self.thermal_state or 'not reported'}"


class DailyThermalRollup(ThermalRollup):
    """One UTC day's thermal rows: the sums of its hourly rows."""

    class Meta:
        constraints = [_unique("dailythermalrollup_unique")]
        indexes = [models.Index(fields=["model_version", "bucket_start"], name="dailythermal_mv_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} {self.thermal_state or 'not reported'}"


class DailyThermalDevice(FallbackCell):
    """A device had a session of the cell in a thermal state on a UTC day: exact distinct devices per state (and per
    thermal group) over any days, which per-day counts could not give (a device is on many days, in many states)."""

    day = models.DateField()
    thermal_state = models.CharField(max_length=THERMAL_STATE_LENGTH, blank=True)
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            # Leads with the day: the unfiltered list's read (a day range, every cell).
            models.UniqueConstraint(
                fields=["day", *CELL_COLUMNS, "thermal_state", "device"],
                name="dailythermaldevice_unique",
            ),
        ]
        # A cell's or model version's read (the cell page, the filtered list).
        indexes = [models.Index(fields=["model_version", "day"], name="dailythermaldevice_mv_day_idx")]

    def __str__(self) -> str:
        return f"{self.device_id} {self.thermal_state or 'not reported'} on {self.day}"


class ThermalDeviceLastDay(FallbackCell):
    """The last UTC day a device had a session of the cell in a thermal state: the exact distinct devices of any
    window that ends today, one row per device and state instead of one per day (sessions never start after now).

    DailyThermalDevice still answers windows that end before today (a page's `now` in the past)."""

    thermal_state = models.CharField(max_length=THERMAL_STATE_LENGTH, blank=True)
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)
    last_day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*CELL_COLUMNS, "thermal_state", "device"], name="thermaldevicelastday_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.thermal_state or 'not reported'} last on {self.last_day}"
