"""Raw telemetry models: devices, raw session summaries and crash reports, crash groups (DESIGN.md "Domain model")."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from compat.models import Delegate, DeviceModel, ModelVersion, RuntimeVersion


class ClockFlag(models.TextChoices):
    OK = "ok", "Device clock trusted"
    SHIFTED = "shifted", "Shifted by the sent_at / receive-time difference"
    CLAMPED = "clamped", "Clamped to receive time (future or older than retention)"


class CrashKind(models.TextChoices):
    NATIVE = "native", "Native crash"
    EXCEPTION = "exception", "Uncaught exception"
    OOM = "oom", "Out of memory"
    WATCHDOG = "watchdog", "Watchdog / ANR"


class CrashGroupStatus(models.TextChoices):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"
    REGRESSED = "regressed", "Regressed"


class Device(models.Model):
    """One device in the field, upserted by every ingest batch it sends."""

    uid = models.CharField(max_length=128, unique=True)
    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="devices")
    os_version = models.CharField(max_length=80, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    firmware = models.CharField(max_length=120, blank=True)
    fleet = models.CharField(max_length=100, blank=True, help_text="Fleet of the API key that first posted for it")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uid"]
        indexes = [
            models.Index(fields=["device_model", "last_seen_at"], name="device_model_seen_idx"),
            models.Index(fields=["last_seen_at"], name="device_last_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.uid


class InferenceSession(models.Model):
    """One session summary as a device posted it; idempotent on event_id, times corrected for the device clock."""

    # Unique through SessionEventKey, not here: a partitioned table's unique index must include its partition key.
    event_id = models.UUIDField()
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    session_id = models.CharField(max_length=64, help_text="The device's session id; crashes link by it")
    # Cohort columns, denormalized so rollups and filters never join through Device. No single-column FK
    # indexes: indexes are most of the load cost, and the composite indexes below serve the reads.
    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="+", db_index=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+", db_index=False)
    runtime_version = models.ForeignKey(RuntimeVersion, on_delete=models.PROTECT, related_name="+", db_index=False)
    delegate = models.ForeignKey(Delegate, on_delete=models.PROTECT, related_name="+", db_index=False)
    app_version = models.CharField(max_length=40, blank=True)
    os_version = models.CharField(max_length=80, blank=True)
    started_at = models.DateTimeField(help_text="Device time, corrected for clock skew")
    received_at = models.DateTimeField()
    clock_offset_s = models.FloatField(default=0.0, help_text="Seconds added to the device's times")
    clock_flag = models.CharField(max_length=8, choices=ClockFlag.choices, default=ClockFlag.OK)
    duration_s = models.FloatField()
    inferences = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    latency_histogram = models.JSONField(help_text="edgeportal_client.histogram wire format: gamma, counts, zero_count")
    accelerated_fraction = models.FloatField(null=True, blank=True)
    fallback_ops = models.JSONField(default=list, blank=True)
    peak_rss_mb = models.FloatField(null=True, blank=True)
    thermal_state = models.CharField(max_length=20, blank=True)
    energy_mj_per_inference = models.FloatField(null=True, blank=True, help_text="Reported by the device; null: not")
    has_crash = models.BooleanField(default=False, help_text="A crash with this session_id arrived (any batch)")
    # A database default too: rows loaded by other means (COPY, SQL) are read raw by the rollups.
    in_partial = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Summed into an HourlySessionPartial by its ingest batch: rollups read that instead",
    )

    class Meta:
        indexes = [
            # The hourly rollup reads only sessions no partial covers (written by other means than the ingest API).
            models.Index(fields=["started_at"], name="session_unsummed_idx", condition=models.Q(in_partial=False)),
            models.Index(fields=["device", "started_at"], name="session_device_started_idx"),
            models.Index(fields=["device", "session_id"], name="session_device_sid_idx"),
            # Rollups scan one hour and group by cohort: the cohort columns ride along in the index.
            models.Index(
                fields=["started_at", "device_model", "model_version", "runtime_version", "delegate"],
                name="session_started_cohort_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.session_id} on {self.device_id}"


class CrashGroup(models.Model):
    """Crashes sharing a fingerprint (normalized in-app frames, else exception type, else message template)."""

    fingerprint = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=255)
    culprit = models.CharField(max_length=255, blank=True, help_text="Top frame or exception type")
    kind = models.CharField(max_length=12, choices=CrashKind.choices)
    status = models.CharField(max_length=12, choices=CrashGroupStatus.choices, default=CrashGroupStatus.NEW)
    resolved_in_version = models.CharField(max_length=40, blank=True, help_text="App version with the fix")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="crash_groups"
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    event_count = models.PositiveBigIntegerField(default=0)
    device_count = models.PositiveIntegerField(default=0, help_text="Exact: rows in CrashGroupDevice")

    class Meta:
        ordering = ["-last_seen_at"]
        permissions = [("triage_crashgroup", "Can triage crash groups")]
        indexes = [
            models.Index(fields=["status", "last_seen_at"], name="crashgroup_status_seen_idx"),
            models.Index(fields=["last_seen_at"], name="crashgroup_last_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class CrashGroupDevice(models.Model):
    """One (group, device) pair: makes the affected-device count exact with an insert that ignores conflicts."""

    group = models.ForeignKey(CrashGroup, on_delete=models.CASCADE, related_name="group_devices")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    first_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "device"], name="crashgroupdevice_unique")]
        indexes = [models.Index(fields=["device"], name="crashgroupdevice_device_idx")]

    def __str__(self) -> str:
        return f"{self.group_id} on {self.device_id}"


class CrashReport(models.Model):
    """One crash as a device posted it, secrets scrubbed before storage; idempotent on event_id."""

    event_id = models.UUIDField()  # unique through CrashEventKey (see InferenceSession.event_id)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="crashes")
    session_id = models.CharField(max_length=64, help_text="The device's session id")
    # No database constraint: a foreign key into a partitioned table needs its partition key too. Retention clears
    # the links into a session partition before dropping it (telemetry/rollups/partitions.py).
    inference_session = models.ForeignKey(
        InferenceSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="crashes", db_constraint=False
    )
    group = models.ForeignKey(CrashGroup, on_delete=models.CASCADE, related_name="crashes")
    fingerprint = models.CharField(max_length=64)
    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    runtime_version = models.ForeignKey(RuntimeVersion, on_delete=models.PROTECT, related_name="+")
    delegate = models.ForeignKey(Delegate, on_delete=models.PROTECT, related_name="+")
    app_version = models.CharField(max_length=40, blank=True)
    os_version = models.CharField(max_length=80, blank=True)
    occurred_at = models.DateTimeField(help_text="Device time, corrected for clock skew")
    received_at = models.DateTimeField()
    clock_offset_s = models.FloatField(default=0.0)
    clock_flag = models.CharField(max_length=8, choices=ClockFlag.choices, default=ClockFlag.OK)
    kind = models.CharField(max_length=12, choices=CrashKind.choices)
    signal = models.CharField(max_length=40, blank=True)
    exception_type = models.CharField(max_length=255, blank=True)
    message = models.TextField(blank=True)
    frames = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["device", "occurred_at"], name="crash_device_occurred_idx"),
            models.Index(fields=["device", "session_id"], name="crash_device_sid_idx"),
            models.Index(fields=["group", "occurred_at"], name="crash_group_occurred_idx"),
            models.Index(
                fields=["occurred_at", "device_model", "model_version", "runtime_version", "delegate"],
                name="crash_occurred_cohort_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.event_id}"
