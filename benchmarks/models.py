"""Lab benchmark runs, their per-op profiles and raw artifacts, the series they form, baselines and regressions."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SourceFormat(models.TextChoices):
    JSON = "json", "JSON (posted metrics)"
    TFLITE_BENCHMARK_MODEL = "tflite_benchmark_model", "TFLite benchmark_model log"
    ONNXRUNTIME_PROFILE = "onnxruntime_profile", "ONNX Runtime profiling JSON"
    TRTEXEC_TIMES = "trtexec_times", "trtexec --exportTimes JSON"
    TRTEXEC_PROFILE = "trtexec_profile", "trtexec --exportProfile JSON"
    ONNXRUNTIME_PERF_TEST = "onnxruntime_perf_test", "onnxruntime_perf_test output"
    TRTEXEC_LOG = "trtexec_log", "trtexec console output"
    OPENVINO_BENCHMARK_APP = "openvino_benchmark_app", "OpenVINO benchmark_app report"
    EXECUTORCH_RUNNER = "executorch_runner", "ExecuTorch runner log"


class RegressionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    FIXED = "fixed", "Fixed"
    FALSE_POSITIVE = "false_positive", "False positive"


class BenchmarkSeries(models.Model):
    """One series: model family × precision × runtime × delegate × device model × config, ordered by build/time."""

    key = models.CharField(max_length=64, unique=True, help_text="sha256 of the identity below")
    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="benchmark_series")
    precision = models.CharField(max_length=8, blank=True)
    runtime = models.ForeignKey(Runtime, on_delete=models.CASCADE, related_name="benchmark_series")
    delegate = models.ForeignKey(Delegate, on_delete=models.CASCADE, related_name="benchmark_series")
    device_model = models.ForeignKey(DeviceModel, on_delete=models.CASCADE, related_name="benchmark_series")
    config = models.JSONField(default=dict, blank=True)
    baseline_run = models.ForeignKey(
        "BenchmarkRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Golden run"
    )
    baseline_pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    baseline_pinned_at = models.DateTimeField(null=True, blank=True)
    unstable = models.BooleanField(default=False, help_text="CV of the latest regime above the benchmark_cv target")
    latency_cv = models.FloatField(null=True, blank=True)
    detected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "benchmark series"
        ordering = ["ml_model__name", "device_model__name", "runtime__name", "delegate__slug"]

    def __str__(self) -> str:
        return f"{self.ml_model.slug} {self.precision} · {self.delegate} · {self.device_model.slug}"


class BenchmarkRun(models.Model):
    """One lab run: what ran where (identity, environment), its status and its metrics."""

    series = models.ForeignKey(BenchmarkSeries, on_delete=models.CASCADE, related_name="runs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="benchmark_runs")
    runtime_version = models.ForeignKey(RuntimeVersion, on_delete=models.PROTECT, related_name="benchmark_runs")
    delegate = models.ForeignKey(Delegate, on_delete=models.PROTECT, related_name="benchmark_runs")
    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="benchmark_runs")
    build = models.CharField(max_length=80, blank=True, help_text="CI build number or name")
    commit = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="threads, batch, precision flags, ...")
    environment = models.JSONField(default=dict, blank=True, help_text="OS, driver, thermal/power mode, ...")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.DONE)
    error = models.TextField(blank=True)
    source_format = models.CharField(max_length=24, choices=SourceFormat.choices, default=SourceFormat.JSON)
    source_format_detected = models.BooleanField(
        default=False, help_text="The format was recognised from the content (format=auto), not named by the uploader"
    )
    source_tool_version = models.CharField(
        max_length=40, blank=True, help_text="The tool/runtime version the artifact prints, when it prints one"
    )
    ran_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    processed_at = models.DateTimeField(null=True, blank=True, help_text="Detection and compat evidence done")

    init_ms = models.FloatField(null=True, blank=True)
    first_inference_ms = models.FloatField(null=True, blank=True)
    latency_count = models.PositiveIntegerField(null=True, blank=True)
    latency_mean_ms = models.FloatField(null=True, blank=True)
    latency_std_ms = models.FloatField(null=True, blank=True)
    latency_min_ms = models.FloatField(null=True, blank=True)
    latency_max_ms = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p90_ms = models.FloatField(null=True, blank=True)
    latency_p95_ms = models.FloatField(null=True, blank=True)
    latency_p99_ms = models.FloatField(null=True, blank=True)
    latency_samples_ms = models.JSONField(null=True, blank=True, help_text="Per-inference samples, when sent")
    throughput_per_s = models.FloatField(null=True, blank=True)
    peak_memory_mb = models.FloatField(null=True, blank=True)
    model_size_mb = models.FloatField(null=True, blank=True)
    accuracy_metric = models.CharField(max_length=40, blank=True)
    accuracy_value = models.FloatField(null=True, blank=True)
    accuracy_delta = models.FloatField(null=True, blank=True, help_text="value − the model version's reference")
    energy_mj_per_inference = models.FloatField(null=True, blank=True)
    accelerated_fraction = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [
            # detection reads a whole series in build/time order
            models.Index(fields=["series", "ran_at"], name="benchmarkrun_series_time_idx"),
            models.Index(fields=["device_model", "model_version"], name="benchmarkrun_device_mv_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} {self.model_version} on {self.device_model.slug}"

    @property
    def model_size_display_mb(self) -> float | None:
        """The artifact's model size, else the catalog's."""
        if self.model_size_mb is not None:
            return self.model_size_mb
        size = self.model_version.size_bytes
        return size / 2**20 if size else None


class BenchmarkOp(models.Model):
    """One op/node/layer of a run's per-op profile."""

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="ops")
    position = models.PositiveIntegerField()
    # Kept whole: fused TensorRT/DLA layer names run to thousands of characters and differ only at the end.
    name = models.TextField()
    op_type = models.CharField(max_length=120)
    delegate = models.CharField(max_length=80, help_text="Delegate / execution provider that ran it")
    accelerated = models.BooleanField(default=False)
    avg_ms = models.FloatField()
    share = models.FloatField(null=True, blank=True)
    calls = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="benchmarkop_unique_position")]

    def __str__(self) -> str:
        return f"{self.name} ({self.op_type})"


class BenchmarkArtifact(models.Model):
    """The raw uploaded artifact, kept as bytes beside the run (downloadable from the run page)."""

    run = models.OneToOneField(BenchmarkRun, on_delete=models.CASCADE, related_name="artifact")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    size_bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()

    def __str__(self) -> str:
        return self.filename


class Regression(models.Model):
    """A detected change point that made a series' metric worse, with its triage status."""

    series = models.ForeignKey(BenchmarkSeries, on_delete=models.CASCADE, related_name="regressions")
    metric = models.CharField(max_length=32)
    change_run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="+")
    run_before = models.ForeignKey(BenchmarkRun, null=True, on_delete=models.SET_NULL, related_name="+")
    before_value = models.FloatField()
    after_value = models.FloatField()
    change_pct = models.FloatField()
    statistic = models.FloatField()
    p_value = models.FloatField()
    confidence = models.FloatField()
    method = models.CharField(max_length=20)
    status = models.CharField(max_length=16, choices=RegressionStatus.choices, default=RegressionStatus.OPEN)
    detected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    triaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    triaged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        permissions = [("triage_regression", "Can triage regressions")]
        constraints = [
            # a re-run of detection upserts on this key, never duplicates
            models.UniqueConstraint(fields=["series", "metric", "change_run"], name="regression_unique_change"),
        ]
        indexes = [models.Index(fields=["status", "detected_at"], name="regression_status_idx")]

    def __str__(self) -> str:
        return f"{self.metric} {self.change_pct:+.1f}% at run {self.change_run_id}"


class MetricDirection(models.TextChoices):
    LOWER_IS_BETTER = "lower_is_better", "lower is better"
    HIGHER_IS_BETTER = "higher_is_better", "higher is better"


# The per-run metrics a series is watched on: (BenchmarkRun field, label, unit, which way is better).
SERIES_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("latency_mean_ms", "Latency mean", "ms", MetricDirection.LOWER_IS_BETTER),
    ("latency_p50_ms", "Latency p50", "ms", MetricDirection.LOWER_IS_BETTER),
    ("latency_p95_ms", "Latency p95", "ms", MetricDirection.LOWER_IS_BETTER),
    ("init_ms", "Init time", "ms", MetricDirection.LOWER_IS_BETTER),
    ("peak_memory_mb", "Peak memory", "MB", MetricDirection.LOWER_IS_BETTER),
    ("throughput_per_s", "Throughput", "inf/s", MetricDirection.HIGHER_IS_BETTER),
    ("accuracy_value", "Accuracy", "", MetricDirection.HIGHER_IS_BETTER),
)
METRIC_LABELS = {field: label for field, label, _, _ in SERIES_METRICS}
