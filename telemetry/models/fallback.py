"""Fallback rollups: sessions per compat cell × firmware × fallback op, and the devices that fell back per day.

Delegate-fallback drift (labfield/drift.py, docs/lab-field.md) reads these instead of raw sessions: its firmware
parts, the sessions per fallback op and the devices affected. Firmware is the device's at the hour's rollup.
"""

from django.db import models
from django.utils import timezone

FALLBACK_CELL_FIELDS = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
ALL_SESSIONS = ""  # the op of the row counting every session of its cell × firmware, whatever it fell back on


def fallback_ops_normalized(fallback_ops) -> set[str]:
    """A session's fallback ops as the rollups key them: upper-cased, each once."""
    return {str(op).upper() for op in fallback_ops or []}


class FallbackCell(models.Model):
    """The compat cell a row counts for."""

    model_version = models.ForeignKey("compat.ModelVersion", on_delete=models.CASCADE, related_name="+", db_index=False)
    runtime_version = models.ForeignKey(
        "compat.RuntimeVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    delegate = models.ForeignKey("compat.Delegate", on_delete=models.CASCADE, related_name="+", db_index=False)
    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        abstract = True


class FallbackRollup(FallbackCell):
    """One cell × firmware × op over one bucket: the sessions listing the op among their fallback ops (op upper-cased,
    a session counted once per op), or with op ALL_SESSIONS every session; all columns merge by addition."""

    bucket_start = models.DateTimeField(help_text="UTC start of the hour (hourly) or the day (daily)")
    firmware = models.CharField(max_length=120, blank=True)
    op = models.CharField(max_length=200, blank=True, help_text="Upper-cased fallback op; '' = all sessions")
    sessions = models.PositiveIntegerField(default=0)
    accelerated_weighted_sum = models.FloatField(default=0.0, help_text="Σ accelerated_fraction × inferences")
    accelerated_weight = models.PositiveBigIntegerField(default=0, help_text="Σ inferences of sessions reporting it")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


def _unique(name: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        fields=["bucket_start", "model_version", "runtime_version", "delegate", "device_model", "firmware", "op"],
        name=name,
    )


class HourlyFallbackRollup(FallbackRollup):
    """One hour's fallback rows, replaced from raw sessions whenever the hourly rollup recomputes the hour."""

    class Meta:
        constraints = [_unique("hourlyfallbackrollup_unique")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} {self.firmware or '?'} {self.op or 'all'}"


class DailyFallbackRollup(FallbackRollup):
    """One UTC day's fallback rows: the sums of its hourly rows."""

    class Meta:
        constraints = [_unique("dailyfallbackrollup_unique")]
        indexes = [models.Index(fields=["model_version", "bucket_start"], name="dailyfallback_mv_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} {self.firmware or '?'} {self.op or 'all'}"


class DailyFallbackDevice(FallbackCell):
    """A device had a session of the cell falling back on `op` (upper-cased) on a UTC day: exact distinct devices
    affected over any days, which per-day counts could not give (a device is on many days)."""

    day = models.DateField()
    op = models.CharField(max_length=200)
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "model_version", "runtime_version", "delegate", "device_model", "op", "device"],
                name="dailyfallbackdevice_unique",
            ),
        ]
        indexes = [models.Index(fields=["model_version", "day"], name="dailyfallbackdevice_mv_day_idx")]

    def __str__(self) -> str:
        return f"{self.device_id} fell back on {self.op} on {self.day}"


class HourlyFallbackPartial(FallbackCell):
    """What one ingest batch's sessions of one hour × cell added per fallback op (upper-cased), written in the batch's
    transaction beside its HourlySessionPartial rows.

    The hourly fallback rollup merges these (and the session partials for its all-sessions rows) instead of
    re-reading the hour's raw sessions; firmware is joined from the device at the rollup, as for raw sessions.
    """

    bucket_start = models.DateTimeField(help_text="UTC start of the sessions' hour")
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)
    op = models.CharField(max_length=200)
    sessions = models.PositiveIntegerField(default=0)
    accelerated_weighted_sum = models.FloatField(default=0.0)
    accelerated_weight = models.PositiveBigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["bucket_start"], name="fallbackpartial_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} device {self.device_id} fell back on {self.op}"
