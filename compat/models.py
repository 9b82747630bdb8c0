from django.conf import settings
from django.db import models
from django.utils import timezone


class Tier(models.IntegerChoices):
    TIER_1 = 1, "Tier 1 (flagship)"
    TIER_2 = 2, "Tier 2 (mid-range)"
    TIER_3 = 3, "Tier 3 (low-end)"


class OsFamily(models.TextChoices):
    ANDROID = "android", "Android"
    IOS = "ios", "iOS / iPadOS"
    MACOS = "macos", "macOS"
    LINUX = "linux", "Linux"
    WINDOWS = "windows", "Windows"


class DelegateKind(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"
    NPU = "npu", "NPU"
    DSP = "dsp", "DSP"


class ModelTask(models.TextChoices):
    CLASSIFICATION = "classification", "Image classification"
    DETECTION = "detection", "Object detection"
    SEGMENTATION = "segmentation", "Segmentation"
    POSE = "pose", "Pose estimation"
    SPEECH = "speech", "Speech recognition"
    NLP = "nlp", "Language"
    OTHER = "other", "Other"


class ModelFormat(models.TextChoices):
    ONNX = "onnx", "ONNX"
    TFLITE = "tflite", "TFLite / LiteRT"
    MLPACKAGE = "mlpackage", "Core ML package"
    ENGINE = "engine", "TensorRT engine"
    PTE = "pte", "ExecuTorch program"


class Precision(models.TextChoices):
    FP32 = "fp32", "FP32"
    FP16 = "fp16", "FP16"
    INT8 = "int8", "INT8"
    INT4 = "int4", "INT4"


class CompatStatus(models.TextChoices):
    SUPPORTED = "supported", "Supported"
    DEGRADED = "degraded", "Degraded"
    UNSUPPORTED = "unsupported", "Unsupported"
    UNTESTED = "untested", "Untested"


class EvidenceSource(models.TextChoices):
    LAB = "lab", "Lab benchmark"
    FIELD = "field", "Field telemetry"


class DeviceModel(models.Model):
    """A device model in the fleet or the lab (e.g. google-pixel-8)."""

    slug = models.SlugField(max_length=80, unique=True)
    vendor = models.CharField(max_length=80)
    name = models.CharField(max_length=120, help_text="Marketing name")
    soc = models.CharField("SoC", max_length=120, blank=True)
    os_family = models.CharField(max_length=16, choices=OsFamily.choices)
    ram_mb = models.PositiveIntegerField(null=True, blank=True)
    accelerators = models.JSONField(default=list, blank=True, help_text="Accelerator kinds present: gpu, npu, dsp")
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.TIER_2)
    memory_budget_mb = models.PositiveIntegerField(null=True, blank=True, help_text="Peak-RSS budget for ML work")

    class Meta:
        ordering = ["vendor", "name"]
        indexes = [models.Index(fields=["tier"], name="devicemodel_tier_idx")]

    def __str__(self) -> str:
        return f"{self.vendor} {self.name}"

    @property
    def has_accelerator(self) -> bool:
        return bool(self.accelerators)


class Runtime(models.Model):
    """An inference runtime (tflite, onnxruntime, coreml, tensorrt, openvino, executorch, qnn)."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RuntimeVersion(models.Model):
    """One released version of a runtime; unknown versions of known runtimes are registered on first sight."""

    runtime = models.ForeignKey(Runtime, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40)
    released_on = models.DateField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["runtime__name", "-released_on", "-version"]
        constraints = [models.UniqueConstraint(fields=["runtime", "version"], name="runtimeversion_unique")]

    def __str__(self) -> str:
        return f"{self.runtime.slug} {self.version}"


class Delegate(models.Model):
    """An accelerator path of a runtime: a TFLite delegate, an ORT execution provider, a Core ML compute unit."""

    runtime = models.ForeignKey(Runtime, on_delete=models.CASCADE, related_name="delegates")
    slug = models.SlugField(max_length=40)
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=8, choices=DelegateKind.choices)

    class Meta:
        ordering = ["runtime__name", "slug"]
        constraints = [models.UniqueConstraint(fields=["runtime", "slug"], name="delegate_unique_per_runtime")]

    def __str__(self) -> str:
        return f"{self.runtime.slug}/{self.slug}"


class MLModel(models.Model):
    """An ML model family (e.g. yolov8n), independent of version and precision."""

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    task = models.CharField(max_length=20, choices=ModelTask.choices, default=ModelTask.OTHER)
    description = models.TextField(blank=True)

    class Meta:
        verbose_name = "ML model"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One shippable build of a model: version, format and precision, with its reference accuracy."""

    ml_model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=40)
    format = models.CharField(max_length=12, choices=ModelFormat.choices, default=ModelFormat.TFLITE)
    precision = models.CharField(max_length=8, choices=Precision.choices, default=Precision.FP32)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    accuracy_metric = models.CharField(max_length=40, blank=True, help_text="e.g. top1, mAP50-95, WER")
    reference_accuracy = models.FloatField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ml_model__name", "-first_seen_at"]
        constraints = [models.UniqueConstraint(fields=["ml_model", "version"], name="modelversion_unique")]

    def __str__(self) -> str:
        return f"{self.ml_model.slug} {self.version}"


class CompatEntry(models.Model):
    """One matrix cell: model version × runtime version × delegate × device model, with its evidence-derived status."""

    # PROTECT: deleting a catalog row must not silently take its cells, their evidence and history with it (409).
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="compat_entries")
    runtime_version = models.ForeignKey(RuntimeVersion, on_delete=models.PROTECT, related_name="compat_entries")
    delegate = models.ForeignKey(Delegate, on_delete=models.PROTECT, related_name="compat_entries")
    device_model = models.ForeignKey(DeviceModel, on_delete=models.PROTECT, related_name="compat_entries")
    derived_status = models.CharField(max_length=12, choices=CompatStatus.choices, default=CompatStatus.UNTESTED)
    derived_reason = models.TextField(blank=True, help_text="Which KPI missed its target, or why it failed")
    override_status = models.CharField(max_length=12, choices=CompatStatus.choices, blank=True)
    override_reason = models.TextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    override_at = models.DateTimeField(null=True, blank=True)
    known_issues = models.TextField(blank=True)
    # Headline figures the derived status was judged on, copied here so the matrix reads one table (no evidence join).
    p95_latency_ms = models.FloatField(null=True, blank=True)
    latency_budget_ms = models.FloatField(null=True, blank=True)
    crash_free_sessions = models.FloatField(null=True, blank=True)
    accelerated_fraction = models.FloatField(null=True, blank=True)
    sample_size = models.PositiveIntegerField(default=0, help_text="Largest sample behind the status")
    evidence_updated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "compat entries"
        permissions = [
            ("override_compatentry", "Can override a compat cell's status"),
            ("edit_compat_notes", "Can edit a compat cell's known issues"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "runtime_version", "delegate", "device_model"], name="compatentry_unique_cell"
            ),
        ]
        indexes = [models.Index(fields=["device_model", "model_version"], name="compatentry_device_mv_idx")]

    def __str__(self) -> str:
        return f"{self.model_version} × {self.runtime_version} × {self.delegate.slug} × {self.device_model.slug}"

    @property
    def status(self) -> str:
        """What the matrix shows: the manual override when set, else the derived status."""
        return self.override_status or self.derived_status


class CompatEvidence(models.Model):
    """One evidence item behind a cell, pushed by telemetry (field) or benchmarks (lab); never typed by hand."""

    entry = models.ForeignKey(CompatEntry, on_delete=models.CASCADE, related_name="evidence")
    source = models.CharField(max_length=8, choices=EvidenceSource.choices)
    source_ref = models.CharField(max_length=120, help_text="What produced it, e.g. field:daily or lab:run:42")
    link = models.CharField(max_length=300, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    sample_size = models.PositiveIntegerField(default=0, help_text="Sessions (field) or runs (lab)")
    p95_latency_ms = models.FloatField(null=True, blank=True)
    latency_budget_ms = models.FloatField(null=True, blank=True)
    accelerated_fraction = models.FloatField(null=True, blank=True)
    crash_free_sessions = models.FloatField(null=True, blank=True)
    errors_per_1k = models.FloatField(null=True, blank=True)
    peak_rss_mb_p95 = models.FloatField(null=True, blank=True)
    memory_budget_mb = models.FloatField(null=True, blank=True)
    load_failed = models.BooleanField(default=False)
    failure_reason = models.TextField(blank=True)
    # Set by a finding that is no KPI figure (labfield's delegate-fallback drift): the cell degrades, with this reason.
    degraded_reason = models.TextField(blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "compat evidence"
        ordering = ["-recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "source", "source_ref"], name="compatevidence_unique_ref"),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} evidence {self.source_ref}"


class CompatStatusChange(models.Model):
    """History of a cell: every derived or manual status change, with who/what and why."""

    class Kind(models.TextChoices):
        DERIVED = "derived", "Derived from evidence"
        OVERRIDE = "override", "Manual override"
        OVERRIDE_CLEARED = "override_cleared", "Override cleared"

    entry = models.ForeignKey(CompatEntry, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=12, choices=CompatStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=CompatStatus.choices, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=120, help_text="Who or what: a username, 'field rollup', 'lab run 42'")
    reason = models.TextField(blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.from_status or '-'} → {self.to_status or '-'} by {self.actor}"
