"""Reads for the benchmark pages and API: run lists, a run with its ops, series histories, regressions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import BinaryField, Prefetch, QuerySet
from django.db.models.functions import Substr

from compat.models import Delegate, ModelVersion, RuntimeVersion

from .models import (
    SERIES_METRICS,
    BenchmarkArtifact,
    BenchmarkOp,
    BenchmarkRun,
    BenchmarkSeries,
    Regression,
    RegressionStatus,
    RunStatus,
)

_RUN_RELATIONS = (
    "model_version__ml_model",
    "runtime_version__runtime",
    "delegate",
    "device_model",
    "series",
)


def runs_list() -> QuerySet[BenchmarkRun]:
    """Runs with their catalog identity joined (one query per page); samples deferred, they are large."""
    return BenchmarkRun.objects.select_related(*_RUN_RELATIONS).defer("latency_samples_ms").order_by("-ran_at", "-id")


def runs_with_ops() -> QuerySet[BenchmarkRun]:
    """Runs as the API serialises them: identity joined, ops prefetched in one query."""
    return runs_list().prefetch_related(Prefetch("ops", queryset=BenchmarkOp.objects.order_by("position")))


def run_get(*, run_id: int) -> BenchmarkRun | None:
    """One run with everything its page shows (artifact metadata without the bytes)."""
    return (
        BenchmarkRun.objects.select_related(*_RUN_RELATIONS, "series__baseline_run")
        .prefetch_related(Prefetch("ops", queryset=BenchmarkOp.objects.order_by("position")))
        .filter(id=run_id)
        .first()
    )


def runs_get(*, run_ids: list[int]) -> list[BenchmarkRun]:
    """The given runs with identity, samples and their series' baseline run joined, oldest first (one query)."""
    return list(
        BenchmarkRun.objects.select_related(
            *_RUN_RELATIONS, *(f"series__baseline_run__{relation}" for relation in _RUN_RELATIONS[:-1])
        )
        .filter(id__in=run_ids)
        .order_by("ran_at", "id")
    )


def artifact_meta_get(*, run_id: int) -> BenchmarkArtifact | None:
    """The run's artifact name/size/hash, without loading its bytes."""
    return BenchmarkArtifact.objects.defer("data").filter(run_id=run_id).first()


ARTIFACT_CHUNK_BYTES = 256 * 1024


def artifact_chunks(*, artifact_id: int, size: int, chunk_bytes: int = ARTIFACT_CHUNK_BYTES) -> Iterator[bytes]:
    """The artifact's bytes, one SUBSTRING query per chunk: a download holds one chunk in memory, never the file."""
    for start in range(0, size, chunk_bytes):
        part = (
            BenchmarkArtifact.objects.filter(pk=artifact_id)
            .annotate(part=Substr("data", start + 1, chunk_bytes, output_field=BinaryField()))
            .values_list("part", flat=True)
            .first()
        )
        if not part:
            return
        yield bytes(part)


def series_runs(*, series_id: int, done_only: bool = True) -> list[BenchmarkRun]:
    """A series' runs in build/time order (the order detection reads them in)."""
    runs = BenchmarkRun.objects.filter(series_id=series_id).select_related("model_version", "runtime_version")
    if done_only:
        runs = runs.filter(status=RunStatus.DONE)
    return list(runs.defer("latency_samples_ms").order_by("ran_at", "id"))


def series_previous_run(*, run: BenchmarkRun) -> BenchmarkRun | None:
    """The done run before this one in its series."""
    return (
        BenchmarkRun.objects.filter(series_id=run.series_id, status=RunStatus.DONE, ran_at__lt=run.ran_at)
        .order_by("-ran_at", "-id")
        .first()
    )


def model_variants_latest(*, run: BenchmarkRun) -> list[BenchmarkRun]:
    """Latest done run of every variant (version × precision × runtime × delegate) of the run's model family
    on its device model: the points of the trade-off scatter. A variant is one point whatever runtime versions it
    ran on (its latest run), so the Pareto front never lists it twice."""
    runs = (
        BenchmarkRun.objects.filter(
            model_version__ml_model_id=run.model_version.ml_model_id,
            device_model_id=run.device_model_id,
            status=RunStatus.DONE,
        )
        .select_related("model_version", "runtime_version__runtime", "delegate")
        .defer("latency_samples_ms")
        .order_by("model_version_id", "runtime_version__runtime_id", "delegate_id", "-ran_at", "-id")
    )
    latest: dict[tuple[int, int, int], BenchmarkRun] = {}
    for candidate in runs:
        key = (candidate.model_version_id, candidate.runtime_version.runtime_id, candidate.delegate_id)
        latest.setdefault(key, candidate)
    return list(latest.values())


def regressions_list() -> QuerySet[Regression]:
    """Regressions with their series identity and runs joined."""
    return Regression.objects.select_related(
        "series__ml_model",
        "series__runtime",
        "series__delegate",
        "series__device_model",
        "change_run__model_version",
        "change_run__runtime_version",
        "run_before__model_version",
        "run_before__runtime_version",
        "triaged_by",
    ).order_by("-detected_at", "-id")


@dataclass(frozen=True)
class SeriesTrend:
    """One series on the regression dashboard: its runs, regressions and baseline."""

    series: BenchmarkSeries
    metric: str
    runs: list[BenchmarkRun]
    regressions: list[Regression]


def open_series_trends(*, regressions: list[Regression], limit: int = 12) -> list[SeriesTrend]:
    """The series behind open regressions with their histories: one query for all runs, none per series."""
    by_series: dict[int, list[Regression]] = {}
    for regression in regressions:
        if regression.status == RegressionStatus.OPEN:
            by_series.setdefault(regression.series_id, []).append(regression)
    series_ids = list(by_series)[:limit]
    runs_by_series: dict[int, list[BenchmarkRun]] = {series_id: [] for series_id in series_ids}
    fields = (
        "id",
        "series_id",
        "ran_at",
        "build",
        "model_version_id",
        "runtime_version_id",
        *(metric for metric, _, _, _ in SERIES_METRICS),
    )
    for run in (
        BenchmarkRun.objects.filter(series_id__in=series_ids, status=RunStatus.DONE)
        .only(*fields)
        .order_by("ran_at", "id")
    ):
        runs_by_series[run.series_id].append(run)
    trends = []
    for series_id in series_ids:
        regressions_here = by_series[series_id]
        trends.append(
            SeriesTrend(
                series=regressions_here[0].series,
                metric=regressions_here[0].metric,
                runs=runs_by_series[series_id],
                regressions=regressions_here,
            )
        )
    return trends


def series_baselines(*, series_ids: list[int]) -> dict[int, BenchmarkRun]:
    """Pinned baseline runs of the given series."""
    pinned = BenchmarkSeries.objects.filter(id__in=series_ids, baseline_run__isnull=False).select_related(
        "baseline_run"
    )
    return {series.id: series.baseline_run for series in pinned}


def upload_catalog() -> dict:
    """The upload page's dependent choices: each model's versions, each runtime's versions and delegates."""
    models: dict[str, list[str]] = {}
    for slug, version in ModelVersion.objects.order_by("ml_model__slug", "version").values_list(
        "ml_model__slug", "version"
    ):
        models.setdefault(slug, []).append(version)
    runtimes: dict[str, dict[str, list[str]]] = {}
    for slug, version in RuntimeVersion.objects.order_by("runtime__slug", "version").values_list(
        "runtime__slug", "version"
    ):
        runtimes.setdefault(slug, {"versions": [], "delegates": []})["versions"].append(version)
    for slug, delegate in Delegate.objects.order_by("runtime__slug", "slug").values_list("runtime__slug", "slug"):
        runtimes.setdefault(slug, {"versions": [], "delegates": []})["delegates"].append(delegate)
    return {"models": models, "runtimes": runtimes}
