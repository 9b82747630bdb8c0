"""Services that run after a run is stored (in a Celery task): regression detection and lab evidence for compat."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from benchmarks.detection import Direction, coefficient_of_variation, detect_regressions
from compat import services as compat_services
from compat.models import EvidenceSource
from core.slo import slo_targets_get

from .models import SERIES_METRICS, BenchmarkRun, BenchmarkSeries, Regression, RunStatus

logger = logging.getLogger(__name__)

# Accuracy moves in tenths of a point: a 1 % relative drop (0.75 → 0.7425) already matters, unlike latency noise.
MIN_EFFECT_PCT = {"accuracy_value": 1.0}


def series_detect(*, series: BenchmarkSeries, cv_threshold: float | None = None) -> list[Regression]:
    """Runs change-point detection over every metric of a series and upserts its Regression rows (idempotent)."""
    runs = list(
        BenchmarkRun.objects.filter(series=series, status=RunStatus.DONE)
        .order_by("ran_at", "id")
        .only("id", "ran_at", *(metric for metric, _, _, _ in SERIES_METRICS))
    )
    now = timezone.now()
    found: list[Regression] = []
    latency_regime_start = 0
    for metric, _, _, direction in SERIES_METRICS:
        indexed = [(run, getattr(run, metric)) for run in runs if getattr(run, metric) is not None]
        if len(indexed) < 2:
            continue
        values = [value for _, value in indexed]
        change_points = detect_regressions(
            values=values,
            direction=Direction(direction),
            **({"min_effect_pct": MIN_EFFECT_PCT[metric]} if metric in MIN_EFFECT_PCT else {}),
        )
        if metric == "latency_mean_ms" and change_points:
            latency_regime_start = change_points[-1].index
        for change_point in change_points:
            if not change_point.is_regression:
                continue
            change_run = indexed[change_point.index][0]
            run_before = indexed[change_point.index - 1][0] if change_point.index > 0 else None
            regression, _ = Regression.objects.update_or_create(
                series=series,
                metric=metric,
                change_run=change_run,
                defaults={
                    "run_before": run_before,
                    "before_value": change_point.before_mean,
                    "after_value": change_point.after_mean,
                    "change_pct": change_point.change_pct,
                    "statistic": change_point.statistic,
                    "p_value": change_point.p_value,
                    "confidence": change_point.confidence,
                    "method": change_point.method,
                },
                create_defaults={
                    "run_before": run_before,
                    "before_value": change_point.before_mean,
                    "after_value": change_point.after_mean,
                    "change_pct": change_point.change_pct,
                    "statistic": change_point.statistic,
                    "p_value": change_point.p_value,
                    "confidence": change_point.confidence,
                    "method": change_point.method,
                    "detected_at": now,
                },
            )
            found.append(regression)
    # A real step inflates a whole series' CV, so stability is judged on the newest regime only.
    latest = [run.latency_mean_ms for run in runs if run.latency_mean_ms is not None][latency_regime_start:]
    cv = coefficient_of_variation(latest)
    threshold = cv_threshold if cv_threshold is not None else slo_targets_get().benchmark_cv
    series.latency_cv = cv
    series.unstable = cv is not None and cv > threshold
    series.detected_at = now
    series.save(update_fields=["latency_cv", "unstable", "detected_at"])
    return found


def lab_evidence_record(*, run: BenchmarkRun) -> None:
    """Pushes the lab evidence of the run's compat cell (this series' runs in that cell) into compat."""
    compat_services.compat_evidence_record(items=[lab_evidence_input(run=run)], actor=f"lab run {run.id}")


def lab_evidence_input(*, run: BenchmarkRun):
    """The compat EvidenceInput of the run's cell: the newest run of this series there, and how many ran."""
    cell_runs = BenchmarkRun.objects.filter(
        series_id=run.series_id,
        model_version_id=run.model_version_id,
        runtime_version_id=run.runtime_version_id,
        delegate_id=run.delegate_id,
        device_model_id=run.device_model_id,
    )
    span = cell_runs.aggregate(count=Count("id"), first=Min("ran_at"), last=Max("ran_at"))
    latest = cell_runs.order_by("-ran_at", "-id").first() or run
    load_failed = latest.status == RunStatus.FAILED
    return compat_services.EvidenceInput(
        model_version_id=run.model_version_id,
        runtime_version_id=run.runtime_version_id,
        delegate_id=run.delegate_id,
        device_model_id=run.device_model_id,
        source=EvidenceSource.LAB,
        source_ref=f"lab:series:{run.series.key[:16]}",
        sample_size=span["count"],
        period_start=span["first"],
        period_end=span["last"],
        p95_latency_ms=None if load_failed else (latest.latency_p95_ms or latest.latency_mean_ms),
        accelerated_fraction=None if load_failed else latest.accelerated_fraction,
        crash_free_sessions=None,
        errors_per_1k=None,
        peak_rss_mb_p95=None if load_failed else latest.peak_memory_mb,
        load_failed=load_failed,
        failure_reason=latest.error[:2000] if load_failed else "",
        link=f"/benchmarks/runs/{latest.id}/",
    )


def benchmark_run_process(*, run_id: int, force: bool = False) -> bool:
    """Detection over the run's series and its compat evidence; False when another worker already did it.

    The claim and the work share one transaction: a crash rolls the claim back, so the redelivered task
    (acks_late) does the work, while a concurrent duplicate waits on the row lock and then finds it claimed.
    """
    with transaction.atomic():
        claimed = BenchmarkRun.objects.filter(id=run_id, processed_at__isnull=True).update(processed_at=timezone.now())
        if not claimed and not force:
            return False
        run = BenchmarkRun.objects.select_related("series").filter(id=run_id).first()
        if run is None:
            return False
        if run.status == RunStatus.DONE:
            series_detect(series=run.series)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            lab_evidence_record(run=run)
    return True
