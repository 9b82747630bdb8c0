"""Shared shapes, errors and helpers for the native-format benchmark importers (pure Python, no Django).

Conventions every importer follows:
- Units are explicit in field names; times are milliseconds, memory is MB as the runtimes count it
  (2**20 bytes: TFLite divides KiB by 1024, and byte counts are converted the same way).
- A figure the artifact does not contain is None, never estimated.
- Percentiles computed from real per-inference samples use the nearest-rank method: the value at
  1-based rank ceil(p/100 * n) of the ascending samples (so p50 of an even count is the lower middle).
  Standard deviations computed from samples are population deviations (divide by n), as TFLite's own are.
- "accelerated" means the work left the runtime's default CPU kernels for a delegate or execution
  provider (GPU, NNAPI, XNNPACK, Hexagon, CUDA, TensorRT, ...); TFLite's Flex delegate runs TensorFlow
  kernels on the CPU and is not accelerated.
- A runtime that reports its own failure is a real result (status "failed"); an artifact that cannot be
  read is an ArtifactError, which the API turns into a 400.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

FORMATS: tuple[str, ...] = (
    "tflite_benchmark_model",
    "onnxruntime_profile",
    "trtexec_times",
    "trtexec_profile",
    "onnxruntime_perf_test",
    "trtexec_log",
    "openvino_benchmark_app",
    "executorch_runner",
)
AUTO = "auto"  # recognise the format from the content (benchmarks.importers.detect)

CPU_DELEGATES = frozenset({"cpu", "CPUExecutionProvider"})

RunStatus = Literal["done", "failed"]


class ArtifactError(ValueError):
    """An uploaded artifact that cannot be read; the message names the line or field."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        self.reason = message
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass(frozen=True, kw_only=True)
class LatencySummary:
    """Per-inference latency figures in ms; None where the artifact has no such figure."""

    count: int | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    samples_ms: list[float] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class OpProfile:
    """One op/node/layer: avg_ms is its time per inference run (all its calls), share its part of all op time."""

    name: str
    op_type: str
    delegate: str
    accelerated: bool
    avg_ms: float
    share: float | None
    calls: float | None = None  # calls per inference run, where the artifact counts them


@dataclass(frozen=True, kw_only=True)
class ImportedRun:
    """What one native artifact says about one benchmark run."""

    source_format: str
    status: RunStatus = "done"
    error: str = ""
    error_lines: list[str] = field(default_factory=list)
    init_ms: float | None = None
    model_load_ms: float | None = None
    first_inference_ms: float | None = None
    warmup_avg_ms: float | None = None
    latency: LatencySummary | None = None
    compute_latency: LatencySummary | None = None  # device-only time per inference (trtexec GPU Compute)
    throughput_per_s: float | None = None
    wall_time_ms: float | None = None  # wall-clock span of the measured inferences, when the artifact has it
    peak_memory_mb: float | None = None
    peak_memory_monitored_mb: float | None = None  # TFLite --report_peak_memory_footprint
    init_memory_mb: float | None = None
    cpu_usage_percent: float | None = None
    model_size_mb: float | None = None
    accelerated_fraction: float | None = None
    delegates: list[str] = field(default_factory=list)  # delegates/providers the artifact names as used
    delegation: Literal["complete", "partial", "none"] | None = None  # as the runtime states it
    delegate_kernels: int | None = None
    delegate_summary: dict[str, float] = field(default_factory=dict)  # delegate -> share of op time
    ops: list[OpProfile] = field(default_factory=list)
    profiled_runs: int | None = None  # inference runs the per-op figures average over
    runtime_version: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    accelerated_from_ops: bool = True  # False when the ops' delegate is unknown: no fraction is derived from them


@dataclass(frozen=True, kw_only=True)
class Sniff:
    """How well a text fits one format: score 0 means it does not (reason says why); version where printed."""

    score: int
    version: str | None = None
    reason: str = ""


class FormatNotRecognised(ArtifactError):
    """format=auto found no format that fits; `tried` maps each format to why it did not fit."""

    def __init__(self, tried: dict[str, str]) -> None:
        self.tried = tried
        reasons = "; ".join(f"{name}: {reason}" for name, reason in tried.items())
        super().__init__(f"format not recognised (tried {reasons})", field="format")


def decode_text(data: bytes | str) -> str:
    """Artifact bytes as text; a leading UTF-8 BOM is dropped."""
    if isinstance(data, str):
        text = data.removeprefix("\ufeff")
    else:
        if (nul := data.find(b"\x00", 0, 1 << 16)) >= 0:
            raise ArtifactError(f"binary file (NUL byte at offset {nul}), not a text log or JSON export")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not text.strip():
        raise ArtifactError("empty file: no tool output in it")
    return text


def number_from_text(token: str, *, line: int) -> float:
    """A finite, non-negative number written in a text log, else ArtifactError naming the line."""
    try:
        value = float(token)
    except ValueError:
        raise ArtifactError(f"expected a number, got {token!r}", line=line) from None
    return _checked(value, line=line, field=None)


def number_from_json(value: Any, *, field: str) -> float:
    """A finite, non-negative JSON number (not a string or bool), else ArtifactError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        found = "nothing" if value is None else type(value).__name__
        raise ArtifactError(f"expected a number, got {found}", field=field)
    return _checked(float(value), line=None, field=field)


def _checked(value: float, *, line: int | None, field: str | None) -> float:
    if not math.isfinite(value):
        raise ArtifactError(f"expected a finite number, got {value!r}", line=line, field=field)
    if value < 0:
        raise ArtifactError(f"expected a non-negative number, got {value!r}", line=line, field=field)
    return value


def load_json(text: str) -> Any:
    """Parsed JSON, or ArtifactError naming the line where it breaks."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def nearest_rank(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile of ascending values: the value at 1-based rank ceil(p/100 * n)."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_samples(samples_ms: list[float]) -> LatencySummary:
    """Latency summary of real per-inference samples (population std, nearest-rank percentiles)."""
    ordered = sorted(samples_ms)
    count = len(ordered)
    mean = math.fsum(ordered) / count
    variance = math.fsum((value - mean) ** 2 for value in ordered) / count
    return LatencySummary(
        count=count,
        mean_ms=mean,
        std_ms=math.sqrt(variance),
        min_ms=ordered[0],
        max_ms=ordered[-1],
        p50_ms=nearest_rank(ordered, 50),
        p90_ms=nearest_rank(ordered, 90),
        p95_ms=nearest_rank(ordered, 95),
        p99_ms=nearest_rank(ordered, 99),
        p999_ms=nearest_rank(ordered, 99.9),
        samples_ms=list(samples_ms),
    )


def shares_by_delegate(ops: list[OpProfile]) -> tuple[float | None, dict[str, float]]:
    """Accelerated fraction of op time and each delegate's share, from per-op times."""
    total = math.fsum(op.avg_ms for op in ops)
    if total <= 0:
        return None, {}
    by_delegate: dict[str, float] = {}
    for op in ops:
        by_delegate[op.delegate] = by_delegate.get(op.delegate, 0.0) + op.avg_ms
    accelerated = math.fsum(op.avg_ms for op in ops if op.accelerated)
    return accelerated / total, {name: time / total for name, time in by_delegate.items()}
