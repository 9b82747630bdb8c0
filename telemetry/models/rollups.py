"""Rollup models: hourly and daily cohort rollups, per-day device activity and dirty hours (DESIGN.md "Processing")."""

from django.db import models
from django.utils import timezone

from .thermal import THERMAL_STATE_LENGTH

COHORT_FIELDS = (
    "device_model_id",
    "model_version_id",
    "runtime_version_id",
    "delegate_id",
    "app_version",
    "os_version",
)
# The compat-cell grain: DailyCoarseRollup drops app/os version, so whole-fleet reads merge far fewer rows.
COARSE_FIELDS = COHORT_FIELDS[:4]


class CohortColumns(models.Model):
    """The cohort a row counts for, COHORT_FIELDS: device model × model version × runtime version × delegate × app
    version × OS version."""

    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+", db_index=False)
    model_version = models.ForeignKey("compat.ModelVersion", on_delete=models.CASCADE, related_name="+", db_index=False)
    runtime_version = models.ForeignKey(
        "compat.RuntimeVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    delegate = models.ForeignKey("compat.Delegate", on_delete=models.CASCADE, related_name="+", db_index=False)
    app_version = models.CharField(max_length=40, blank=True)
    os_version = models.CharField(max_length=80, blank=True)

    class Meta:
        abstract = True


class CohortRollup(CohortColumns):
    """Sums of one cohort over one bucket; every column merges by addition, so days and ranges are sums of rows."""

    bucket_start = models.DateTimeField(help_text="UTC start of the hour (hourly) or the day (daily)")
    sessions = models.PositiveIntegerField(default=0)
    crashed_sessions = models.PositiveIntegerField(default=0, help_text="Sessions (by start hour) with a crash")
    crashes = models.PositiveIntegerField(default=0, help_text="Crash reports by their occurred_at hour")
    inferences = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    latency_histogram = models.JSONField(default=dict, help_text="Merged LatencyHistogram wire format")
    accelerated_weighted_sum = models.FloatField(default=0.0, help_text="Σ accelerated_fraction × inferences")
    accelerated_weight = models.PositiveBigIntegerField(default=0, help_text="Σ inferences of sessions reporting it")
    peak_rss_histogram = models.JSONField(default=dict, help_text="LatencyHistogram wire format over peak_rss_mb")
    devices = models.PositiveIntegerField(default=0, help_text="Distinct devices in this cohort and bucket (exact)")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class HourlyRollup(CohortRollup):
    """One cohort × one UTC hour, recomputed from raw rows (delete + insert) whenever the hour changes."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start", *[f.removesuffix("_id") for f in COHORT_FIELDS]], name="hourlyrollup_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["bucket_start", "device_model", "model_version"], name="hourlyrollup_bucket_idx"),
            models.Index(fields=["model_version", "bucket_start"], name="hourlyrollup_mv_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} cohort {self.device_model_id}/{self.model_version_id}"


class HourlySessionPartial(CohortColumns):
    """What one ingest batch added to one hour × cohort (a batch is one device), written in the batch's transaction.

    The hourly rollup merges these instead of re-reading the sessions they summarize (InferenceSession.in_partial):
    a busy hour is recomputed every ROLLUP_REQUEUE_DELAY_S, and re-reading every session each time cost ~14 % of
    the ingest throughput (perf/ingest_bench.py). A crash linking an older session later adds a row with
    crashed_sessions = 1 and nothing else. Histogram keys are strings, as in the rollups.
    """

    bucket_start = models.DateTimeField(help_text="UTC start of the sessions' hour")
    device = models.ForeignKey("telemetry.Device", on_delete=models.CASCADE, related_name="+", db_index=False)
    sessions = models.PositiveIntegerField(default=0)
    crashed_sessions = models.PositiveIntegerField(default=0)
    inferences = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    accelerated_weighted_sum = models.FloatField(default=0.0)
    accelerated_weight = models.PositiveBigIntegerField(default=0)
    latency_counts = models.JSONField(default=dict)
    latency_zero = models.PositiveBigIntegerField(default=0)
    rss_counts = models.JSONField(default=dict)
    rss_zero = models.PositiveIntegerField(default=0)
    # The release KPIs' counts (docs/rollouts.md): sessions reporting CPU fallback ops, sessions lacking a KPI field.
    fallback_sessions = models.PositiveIntegerField(default=0)
    lacking_sessions = models.PositiveIntegerField(default=0)
    # The thermal rollup's grain (rollups/thermal.py): the sessions' state key and energy sums. NULL marks a row
    # written before partials carried them: its hour's thermal and fallback rows are then read from raw sessions.
    thermal_state = models.CharField(max_length=THERMAL_STATE_LENGTH, null=True, blank=True)
    energy_sessions = models.PositiveIntegerField(default=0)
    energy_inferences = models.PositiveBigIntegerField(default=0)
    energy_weighted_sum = models.FloatField(default=0.0)

    class Meta:
        indexes = [models.Index(fields=["bucket_start"], name="sessionpartial_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} device {self.device_id} cohort {self.model_version_id}"


class DailyRollup(CohortRollup):
    """One cohort × one UTC day, the sum of its hourly rows (devices: exact, from DeviceActivityDay)."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start", *[f.removesuffix("_id") for f in COHORT_FIELDS]], name="dailyrollup_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["bucket_start", "device_model", "model_version"], name="dailyrollup_bucket_idx"),
            models.Index(fields=["model_version", "bucket_start"], name="dailyrollup_mv_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} cohort {self.device_model_id}/{self.model_version_id}"


class DailyCoarseRollup(models.Model):
    """One compat cell (device model × model version × runtime version × delegate) × one UTC day.

    The sum of that day's DailyRollup rows over app and OS versions (devices: exact, from DeviceActivityDay); read
    instead of DailyRollup whenever a query neither filters nor groups by app_version/os_version.
    """

    bucket_start = models.DateTimeField(help_text="UTC start of the day")
    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+", db_index=False)
    model_version = models.ForeignKey("compat.ModelVersion", on_delete=models.CASCADE, related_name="+", db_index=False)
    runtime_version = models.ForeignKey(
        "compat.RuntimeVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    delegate = models.ForeignKey("compat.Delegate", on_delete=models.CASCADE, related_name="+", db_index=False)
    sessions = models.PositiveIntegerField(default=0)
    crashed_sessions = models.PositiveIntegerField(default=0)
    crashes = models.PositiveIntegerField(default=0)
    inferences = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    latency_histogram = models.JSONField(default=dict)
    accelerated_weighted_sum = models.FloatField(default=0.0)
    accelerated_weight = models.PositiveBigIntegerField(default=0)
    peak_rss_histogram = models.JSONField(default=dict)
    devices = models.PositiveIntegerField(default=0, help_text="Distinct devices in this cell and day (exact)")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start", *[f.removesuffix("_id") for f in COARSE_FIELDS]],
                name="dailycoarserollup_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["model_version", "bucket_start"], name="dailycoarse_mv_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} cell {self.device_model_id}/{self.model_version_id}"


class GrainSums(models.Model):
    """The additive columns of a rollup row at a grain coarser than the cohort (one bucket, one grain value)."""

    bucket_start = models.DateTimeField(help_text="UTC start of the hour (hourly) or the day (daily)")
    sessions = models.PositiveIntegerField(default=0)
    crashed_sessions = models.PositiveIntegerField(default=0)
    crashes = models.PositiveIntegerField(default=0)
    inferences = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    latency_histogram = models.JSONField(default=dict)
    accelerated_weighted_sum = models.FloatField(default=0.0)
    accelerated_weight = models.PositiveBigIntegerField(default=0)
    peak_rss_histogram = models.JSONField(default=dict)
    devices = models.PositiveIntegerField(default=0, help_text="Distinct devices in this grain and bucket (exact)")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class DailyDeviceModelRollup(GrainSums):
    """One device model × one UTC day: that day's DailyCoarseRollup rows summed (devices exact, DeviceActivityDay).

    Read when a query filters and groups by device-model attributes only (device model, vendor, tier):
    40 rows a day instead of one per compat cell.
    """

    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bucket_start", "device_model"], name="dailydevicemodelrollup_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} device model {self.device_model_id}"


class DailyFleetRollup(GrainSums):
    """The whole fleet × one UTC day: that day's DailyCoarseRollup rows summed (devices exact, DeviceActivityDay).

    Unfiltered KPIs and day series read one row per day instead of merging every cohort's histogram.
    """

    fallback_sessions = models.PositiveIntegerField(
        default=0, help_text="Sessions reporting CPU fallback ops (the day's fleet hours summed)"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket_start"], name="dailyfleetrollup_unique")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} fleet"


class HourlyFleetRollup(GrainSums):
    """The whole fleet × one UTC hour: the hour's HourlyRollup rows summed (devices exact, from raw rows).

    Unfiltered partial-day edges (e.g. the previous period of a 7-day view) read one row per hour.
    """

    fallback_sessions = models.PositiveIntegerField(default=0, help_text="Sessions reporting CPU fallback ops")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket_start"], name="hourlyfleetrollup_unique")]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d %H:00} fleet"


# What a crash group is broken down by (its page) and the compat cell it implicates: the crash's cohort without
# app_version, which the group's regressed/resolved logic reads from raw reports, not from a breakdown.
CRASH_FIELDS = ("device_model_id", "os_version", "model_version_id", "runtime_version_id", "delegate_id")


class CrashGroupRollup(models.Model):
    """Crash reports of one group × one bucket × one (device model, OS, model version, runtime version, delegate).

    No unique constraint: a merge repoints the source group's rows to the target (its raw crashes may be past
    retention, so they cannot be recounted), which may leave two rows for one key; every read sums them.
    """

    bucket_start = models.DateTimeField(help_text="UTC start of the hour (hourly) or the day (daily)")
    group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="+", db_index=False)
    device_model = models.ForeignKey("compat.DeviceModel", on_delete=models.CASCADE, related_name="+", db_index=False)
    os_version = models.CharField(max_length=80, blank=True)
    model_version = models.ForeignKey("compat.ModelVersion", on_delete=models.CASCADE, related_name="+", db_index=False)
    runtime_version = models.ForeignKey(
        "compat.RuntimeVersion", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    delegate = models.ForeignKey("compat.Delegate", on_delete=models.CASCADE, related_name="+", db_index=False)
    events = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"group {self.group_id} at {self.bucket_start:%Y-%m-%d %H:00}: {self.events}"


class HourlyCrashGroupRollup(CrashGroupRollup):
    """One hour's rows, replaced from raw crash reports with the hour's HourlyRollup (same transaction)."""

    class Meta:
        indexes = [
            models.Index(fields=["group", "bucket_start"], name="hourlycrashgroup_group_idx"),
            models.Index(fields=["bucket_start"], name="hourlycrashgroup_bucket_idx"),
            # The compat cell page: groups with crashes in one cell.
            models.Index(fields=["model_version", "device_model", "bucket_start"], name="hourlycrashgroup_cell_idx"),
        ]


class DailyCrashGroupRollup(CrashGroupRollup):
    """One UTC day's rows, the sums of its hourly rows (replaced with the day's DailyRollup)."""

    class Meta:
        indexes = [
            models.Index(fields=["group", "bucket_start"], name="dailycrashgroup_group_idx"),
            models.Index(fields=["bucket_start"], name="dailycrashgroup_bucket_idx"),
            models.Index(fields=["model_version", "device_model", "bucket_start"], name="dailycrashgroup_cell_idx"),
        ]


class RollupDirtyHour(models.Model):
    """An hour whose raw rows changed since its rollup; written in the ingest transaction, cleared by the rollup."""

    hour = models.DateTimeField(unique=True)
    marked_at = models.DateTimeField(default=timezone.now)
    # When a rollup was last queued for it: ingest queues again once it is ROLLUP_REQUEUE_DELAY_S old, so a lost
    # message (broker down, worker killed) delays an hour that keeps receiving events by seconds, not until beat.
    queued_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.hour.isoformat()
