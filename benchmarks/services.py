"""Every write of the benchmarks app: store runs (posted JSON or native artifacts), pin baselines, triage regressions."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from benchmarks.catalog import CatalogError, RunIdentity, identity_resolve
from benchmarks.importers.base import (
    AUTO,
    CPU_DELEGATES,
    ArtifactError,
    ImportedRun,
    shares_by_delegate,
)
from benchmarks.importers.dispatch import parse_artifact

from .models import (
    BenchmarkArtifact,
    BenchmarkOp,
    BenchmarkRun,
    BenchmarkSeries,
    Regression,
    RegressionStatus,
    RunStatus,
    SourceFormat,
)

MAX_STORED_SAMPLES = 10_000  # enough for a Welch test; a run's summary figures are computed before the cap
__all__ = ["CatalogError", "RunIdentity"]  # re-exported: callers import them from here


def artifact_max_bytes() -> int:
    """The upload limit for one artifact (BENCHMARK_ARTIFACT_MAX_BYTES, default 20 MiB)."""
    return int(getattr(settings, "BENCHMARK_ARTIFACT_MAX_BYTES", 20 * 1024 * 1024))


def artifact_size_check(*, size: int) -> None:
    """ArtifactError when an upload is over the limit (checked before it is read)."""
    limit = artifact_max_bytes()
    if size > limit:
        raise ArtifactError(f"the file is {size:,} bytes, over the upload limit of {limit:,} bytes", field="artifact")


@dataclass(frozen=True, kw_only=True)
class RunExtras:
    """Figures native artifacts never carry: accuracy, energy, model size, an explicit status."""

    accuracy_metric: str = ""
    accuracy_value: float | None = None
    energy_mj_per_inference: float | None = None
    status: str | None = None
    error: str = ""


def series_key_for(
    *, ml_model_id: int, precision: str, runtime_id: int, delegate_id: int, device_model_id: int, config: dict[str, Any]
) -> str:
    """Stable hash of a series' identity (config canonicalised, so key order never splits a series)."""
    identity = [ml_model_id, precision, runtime_id, delegate_id, device_model_id, config]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _series_get_or_create(*, model_version, runtime_version, delegate, device_model, config) -> BenchmarkSeries:
    key = series_key_for(
        ml_model_id=model_version.ml_model_id,
        precision=model_version.precision,
        runtime_id=runtime_version.runtime_id,
        delegate_id=delegate.id,
        device_model_id=device_model.id,
        config=config,
    )
    series, _ = BenchmarkSeries.objects.get_or_create(
        key=key,
        defaults={
            "ml_model_id": model_version.ml_model_id,
            "precision": model_version.precision,
            "runtime_id": runtime_version.runtime_id,
            "delegate": delegate,
            "device_model": device_model,
            "config": config,
        },
    )
    return series


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _error_text(result: ImportedRun, extras: RunExtras) -> str:
    lines = [extras.error or result.error, *result.error_lines]
    return "\n".join(line for line in dict.fromkeys(lines) if line)


@transaction.atomic
def benchmark_run_create(
    *,
    identity: RunIdentity,
    result: ImportedRun,
    extras: RunExtras | None = None,
    artifact_name: str = "",
    artifact_data: bytes | None = None,
    artifact_content_type: str = "application/octet-stream",
    enqueue: bool = True,
    register_versions: bool = False,
    source_format_detected: bool = False,
) -> BenchmarkRun:
    """Stores one run with its ops and raw artifact; queues detection + compat evidence after commit.

    Unknown model/runtime versions are a CatalogError unless register_versions (then registered in this
    transaction, so nothing is left behind when the run is not stored).
    """
    extras = extras or RunExtras()
    model_version, runtime_version, delegate, device_model = identity_resolve(
        identity=identity, register_versions=register_versions
    )
    series = _series_get_or_create(
        model_version=model_version,
        runtime_version=runtime_version,
        delegate=delegate,
        device_model=device_model,
        config=identity.config,
    )
    latency = result.latency
    accelerated_fraction = result.accelerated_fraction
    if accelerated_fraction is None and result.ops and result.accelerated_from_ops:
        accelerated_fraction, _ = shares_by_delegate(result.ops)
    accuracy_delta = None
    if extras.accuracy_value is not None and model_version.reference_accuracy is not None:
        accuracy_delta = extras.accuracy_value - model_version.reference_accuracy
    run = BenchmarkRun.objects.create(
        series=series,
        model_version=model_version,
        runtime_version=runtime_version,
        delegate=delegate,
        device_model=device_model,
        build=identity.build,
        commit=identity.commit,
        config=identity.config,
        environment={**result.environment, **identity.environment},
        status=extras.status or result.status,
        error=_error_text(result, extras),
        source_format=result.source_format,
        source_format_detected=source_format_detected,
        source_tool_version=(result.runtime_version or "")[:40],
        ran_at=identity.ran_at or timezone.now(),
        init_ms=result.init_ms,
        first_inference_ms=result.first_inference_ms,
        latency_count=latency.count if latency else None,
        latency_mean_ms=latency.mean_ms if latency else None,
        latency_std_ms=latency.std_ms if latency else None,
        latency_min_ms=latency.min_ms if latency else None,
        latency_max_ms=latency.max_ms if latency else None,
        latency_p50_ms=latency.p50_ms if latency else None,
        latency_p90_ms=latency.p90_ms if latency else None,
        latency_p95_ms=latency.p95_ms if latency else None,
        latency_p99_ms=latency.p99_ms if latency else None,
        latency_samples_ms=list(latency.samples_ms[:MAX_STORED_SAMPLES]) if latency and latency.samples_ms else None,
        throughput_per_s=_finite_or_none(result.throughput_per_s),
        peak_memory_mb=result.peak_memory_mb,
        model_size_mb=result.model_size_mb,
        accuracy_metric=extras.accuracy_metric or model_version.accuracy_metric,
        accuracy_value=extras.accuracy_value,
        accuracy_delta=accuracy_delta,
        energy_mj_per_inference=extras.energy_mj_per_inference,
        accelerated_fraction=accelerated_fraction,
    )
    BenchmarkOp.objects.bulk_create(
        [
            BenchmarkOp(
                run=run,
                position=position,
                name=op.name,
                op_type=op.op_type[:120],
                delegate=op.delegate[:80],
                accelerated=op.accelerated,
                avg_ms=op.avg_ms,
                share=op.share,
                calls=op.calls,
            )
            for position, op in enumerate(result.ops)
        ]
    )
    if artifact_data is not None:
        BenchmarkArtifact.objects.create(
            run=run,
            filename=(artifact_name or f"run-{run.id}.{result.source_format}")[:200],
            content_type=artifact_content_type[:100],
            size_bytes=len(artifact_data),
            sha256=hashlib.sha256(artifact_data).hexdigest(),
            data=artifact_data,
        )
    if enqueue and run.status in (RunStatus.DONE, RunStatus.FAILED):
        from .tasks import benchmark_run_process_task  # tasks import this module

        transaction.on_commit(lambda: benchmark_run_process_task.delay(run.id))
    return run


def benchmark_run_import(
    *,
    identity: RunIdentity,
    source_format: str,
    data: bytes,
    filename: str = "",
    content_type: str = "application/octet-stream",
    extras: RunExtras | None = None,
    enqueue: bool = True,
    register_versions: bool = False,
) -> BenchmarkRun:
    """Parses a native artifact (ArtifactError when unreadable: nothing stored) and stores the run and the file.

    source_format "auto" recognises the format from the content (the run records which, and that it was detected).
    """
    artifact_size_check(size=len(data))
    result = parse_artifact(source_format=source_format, data=data)
    if not identity.runtime_version and result.runtime_version:
        identity = RunIdentity(**{**identity.__dict__, "runtime_version": result.runtime_version})
    if not identity.runtime_version:
        raise CatalogError(field="runtime_version", message="runtime_version is required (the artifact has none)")
    return benchmark_run_create(
        identity=identity,
        result=result,
        extras=extras,
        artifact_name=filename,
        artifact_data=data,
        artifact_content_type=content_type,
        enqueue=enqueue,
        register_versions=register_versions,
        source_format_detected=source_format == AUTO,
    )


def op_profile_from_dict(item: dict[str, Any]):
    """A posted JSON op as the importers' OpProfile (anything off the CPU counts as accelerated)."""
    from benchmarks.importers.base import OpProfile

    delegate = str(item.get("delegate") or "cpu")
    return OpProfile(
        name=str(item["name"]),
        op_type=str(item.get("op_type") or ""),
        delegate=delegate,
        accelerated=bool(item.get("accelerated", delegate.lower() not in {d.lower() for d in CPU_DELEGATES})),
        avg_ms=float(item["avg_ms"]),
        share=item.get("share"),
        calls=item.get("calls"),
    )


def baseline_pin(*, run: BenchmarkRun, user) -> BenchmarkSeries:
    """Pins a run as the golden baseline of its series; comparisons default to it."""
    series = run.series
    series.baseline_run = run
    series.baseline_pinned_by = user if getattr(user, "is_authenticated", False) else None
    series.baseline_pinned_at = timezone.now()
    series.save(update_fields=["baseline_run", "baseline_pinned_by", "baseline_pinned_at"])
    return series


def baseline_unpin(*, series: BenchmarkSeries) -> BenchmarkSeries:
    """Clears a series' baseline."""
    series.baseline_run = None
    series.baseline_pinned_by = None
    series.baseline_pinned_at = None
    series.save(update_fields=["baseline_run", "baseline_pinned_by", "baseline_pinned_at"])
    return series


def regression_triage(*, regression: Regression, status: str, user) -> Regression:
    """Sets a regression's triage status (acknowledged / fixed / false positive / reopened) and who did it."""
    regression.status = RegressionStatus(status)
    regression.triaged_by = user
    regression.triaged_at = timezone.now()
    regression.save(update_fields=["status", "triaged_by", "triaged_at", "updated_at"])
    return regression


SOURCE_FORMATS = [value for value in SourceFormat.values if value != SourceFormat.JSON]


def run_result_from_json(data: dict[str, Any]) -> ImportedRun:
    """A run posted as JSON metrics, in the importers' shape (samples summarised when no summary is given)."""
    from benchmarks.importers.base import LatencySummary, summarize_samples

    latency_input = data.get("latency_ms") or {}
    samples = latency_input.get("samples") or []
    latency = summarize_samples(samples) if samples else None
    posted = {
        "count": latency_input.get("count"),
        "mean_ms": latency_input.get("mean"),
        "std_ms": latency_input.get("std"),
        "min_ms": latency_input.get("min"),
        "max_ms": latency_input.get("max"),
        "p50_ms": latency_input.get("p50"),
        "p90_ms": latency_input.get("p90"),
        "p95_ms": latency_input.get("p95"),
        "p99_ms": latency_input.get("p99"),
    }
    if latency is not None:
        # figures the client sent win over ours; ours fill the gaps
        merged = {key: value if value is not None else getattr(latency, key) for key, value in posted.items()}
        latency = LatencySummary(**merged, samples_ms=list(samples))
    elif any(value is not None for value in posted.values()):
        latency = LatencySummary(**posted)
    ops = [op_profile_from_dict(item) for item in data.get("ops") or []]
    return ImportedRun(
        source_format=SourceFormat.JSON,
        status=data.get("status") or RunStatus.DONE,
        error=data.get("error") or "",
        init_ms=data.get("init_ms"),
        first_inference_ms=data.get("first_inference_ms"),
        latency=latency,
        throughput_per_s=data.get("throughput_per_s"),
        peak_memory_mb=data.get("peak_memory_mb"),
        model_size_mb=data.get("model_size_mb"),
        accelerated_fraction=data.get("accelerated_fraction"),
        ops=ops,
    )
