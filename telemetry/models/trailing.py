"""Trailing-window rollups: the dashboards' preset ranges (24 h, 7 and 30 days) summed ahead, per grain value."""

from django.db import models

from .rollups import GrainSums


class TrailingWindow(models.TextChoices):
    """The pages' preset ranges (kpi.scope.RANGES): 24 h trailing hours; 7 and 30 UTC calendar days up to now."""

    H24 = "24h", "Last 24 hours"
    D7 = "7d", "Last 7 days"
    D30 = "30d", "Last 30 days"


class TrailingGrain(models.TextChoices):
    """What one row sums: the whole fleet, one device model, one compat cell, one (model version × device model)
    pair (lab coverage's unit, labfield/coverage.py: its scalar sums and exact devices, no histograms), or the whole
    fleet over the window's previous period (the trends; its own range, devices not counted)."""

    FLEET = "fleet", "Fleet"
    DEVICE_MODEL = "device_model", "Device model"
    CELL = "cell", "Compat cell"
    PAIR = "pair", "Model version × device model"
    PREVIOUS = "previous", "Fleet, previous period"


class TrailingSums(GrainSums):
    """The keys of a trailing-window row: which window, which grain value, over which summed range."""

    window = models.CharField(max_length=3, choices=TrailingWindow.choices)
    grain = models.CharField(max_length=12, choices=TrailingGrain.choices)
    range_end = models.DateTimeField(help_text="Exclusive end of the summed range (bucket_start is its start)")
    device_model = models.ForeignKey(
        "compat.DeviceModel", on_delete=models.CASCADE, related_name="+", null=True, db_index=False
    )
    model_version = models.ForeignKey(
        "compat.ModelVersion", on_delete=models.CASCADE, related_name="+", null=True, db_index=False
    )
    runtime_version = models.ForeignKey(
        "compat.RuntimeVersion", on_delete=models.CASCADE, related_name="+", null=True, db_index=False
    )
    delegate = models.ForeignKey(
        "compat.Delegate", on_delete=models.CASCADE, related_name="+", null=True, db_index=False
    )

    class Meta:
        abstract = True


class TrailingRollup(TrailingSums):
    """One window × one grain value: the rows an unfiltered page would merge for that range, summed by the rollup.

    bucket_start..range_end is what the row sums (kpi.trailing.read_span: the whole UTC days of a 7- or 30-day window,
    the snapped hours of the 24 h one): a page reads the row only while its own range reads exactly that, so a day
    (for 24 h, an hour) rolling over falls back to the finer rows until the next rollup run rebuilds the window.
    devices is exact for the range (not a sum of days). The KPI quantiles are computed from the row's own histograms
    when it is written (kpi.kpis.totals_quantiles, the one definition), so a page reads them instead of the
    histograms: a page's ~300 rows then carry no JSON to decode and no quantile to compute.
    """

    p50_latency_ms = models.FloatField(null=True)
    p95_latency_ms = models.FloatField(null=True)
    p99_latency_ms = models.FloatField(null=True)
    peak_rss_mb_p50 = models.FloatField(null=True)
    peak_rss_mb_p95 = models.FloatField(null=True)
    lacking_devices = models.PositiveIntegerField(
        default=0, help_text="Fleet rows: distinct devices with a session lacking a KPI field in the range (exact)"
    )

    class Meta:
        indexes = [models.Index(fields=["window", "bucket_start", "range_end"], name="trailingrollup_window_idx")]

    def __str__(self) -> str:
        return f"{self.window} {self.grain} {self.device_model_id}/{self.model_version_id} from {self.bucket_start:%Y-%m-%d}"


class TrailingClosedRollup(TrailingSums):
    """A 7- or 30-day window's closed days (all but today) summed once per day by the rollup run.

    A run adds today's rows to these instead of summing the window's days again (rollups/trailing.py); devices is
    exact for the closed days. Rebuilt when the window's first day moves (day roll-over) or a closed day is
    recomputed (late data). Never read by pages.
    """

    def __str__(self) -> str:
        return f"{self.window} closed {self.grain} {self.device_model_id}/{self.model_version_id}"
