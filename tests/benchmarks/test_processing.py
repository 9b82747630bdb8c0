import time

import pytest

from benchmarks.models import BenchmarkRun, BenchmarkSeries, Regression, RegressionStatus
from benchmarks.processing import benchmark_run_process, series_detect
from benchmarks.tasks import benchmark_run_process_task

from .conftest import make_run

NOISE = [1.0, 1.01, 0.99, 1.005, 0.995, 1.012, 0.988, 1.003, 0.997, 1.008, 0.992, 1.0]


def _history(*, step_at: int = 12, total: int = 20, base: float = 10.0, slowdown: float = 1.15):
    runs = []
    for day in range(total):
        factor = slowdown if day >= step_at else 1.0
        runs.append(make_run(day=day, mean=base * factor * NOISE[day % len(NOISE)]))
    return runs


def _rows():
    return sorted(
        Regression.objects.values_list(
            "series_id", "metric", "change_run_id", "before_value", "after_value", "change_pct", "p_value", "method"
        )
    )


def test_a_15_percent_slowdown_is_one_regression_at_the_change_run(catalog):
    runs = _history()
    series_detect(series=runs[0].series)
    latency = Regression.objects.get(metric="latency_mean_ms")
    assert latency.change_run_id == runs[12].id and latency.run_before_id == runs[11].id
    assert latency.change_pct == pytest.approx(15, abs=1.5)
    assert latency.status == RegressionStatus.OPEN and latency.p_value < 0.01
    # throughput (higher is better) fell with it; init/memory/accuracy did not move
    assert set(Regression.objects.values_list("metric", flat=True)) == {
        "latency_mean_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "throughput_per_s",
    }


def test_detection_twice_gives_the_same_rows_and_keeps_triage(catalog, support_user):
    runs = _history()
    series_detect(series=runs[0].series)
    first = _rows()
    Regression.objects.filter(metric="latency_mean_ms").update(status=RegressionStatus.ACKNOWLEDGED)
    series_detect(series=runs[0].series)
    assert _rows() == first
    assert Regression.objects.get(metric="latency_mean_ms").status == RegressionStatus.ACKNOWLEDGED


def test_task_twice_on_the_same_run_processes_once_and_the_rows_stay(catalog):
    runs = _history()
    assert benchmark_run_process_task.delay(runs[-1].id).get() is True
    rows = _rows()
    assert rows
    assert benchmark_run_process_task.delay(runs[-1].id).get() is False  # claimed already
    assert benchmark_run_process(run_id=runs[-1].id, force=True) is True
    assert _rows() == rows


def test_a_noisy_series_is_flagged_unstable_and_a_steady_one_is_not(catalog):
    steady = _history(total=12, slowdown=1.0)
    series_detect(series=steady[0].series)
    assert BenchmarkSeries.objects.get(id=steady[0].series_id).unstable is False
    noisy_means = [10, 13, 8, 12, 9, 14, 7, 11, 10, 13]
    noisy = [make_run(day=100 + i, mean=m, delegate="xnnpack") for i, m in enumerate(noisy_means)]
    series_detect(series=noisy[0].series)
    series = BenchmarkSeries.objects.get(id=noisy[0].series_id)
    assert series.unstable is True and series.latency_cv > 0.05


def test_an_int8_version_losing_three_points_is_an_accuracy_regression(catalog):
    from compat.models import ModelVersion

    int8 = ModelVersion.objects.get(version="1.0-int8")
    ModelVersion.objects.create(ml_model=int8.ml_model, version="1.1-int8", precision="int8")
    runs = [
        make_run(day=d, mean=5.0 * NOISE[d % 12], model_version="1.0-int8", accuracy=0.748 + 0.0005 * (d % 3))
        for d in range(10)
    ]
    runs += [
        make_run(day=d, mean=5.0 * NOISE[d % 12], model_version="1.1-int8", accuracy=0.718 + 0.0005 * (d % 3))
        for d in range(10, 16)
    ]
    series_detect(series=runs[0].series)
    accuracy = Regression.objects.get(metric="accuracy_value")
    assert accuracy.change_run_id == runs[10].id
    assert accuracy.change_pct == pytest.approx(-4.0, abs=0.3)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_detection_idempotently(celery_worker_process):
    from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion

    device = DeviceModel.objects.create(slug="google-pixel-8", vendor="Google", name="Pixel 8", os_family="android")
    tflite = Runtime.objects.create(slug="tflite", name="TFLite")
    RuntimeVersion.objects.create(runtime=tflite, version="2.16.1")
    Delegate.objects.create(runtime=tflite, slug="gpu", name="GPU", kind="gpu")
    ModelVersion.objects.create(ml_model=MLModel.objects.create(slug="mobilenet-v3", name="M"), version="1.0")
    assert device.id
    runs = _history()
    last = runs[-1]
    results = [benchmark_run_process_task.delay(last.id), benchmark_run_process_task.delay(last.id)]
    outcomes = sorted(result.get(timeout=60) for result in results)
    assert outcomes == [False, True]
    deadline = time.monotonic() + 10
    while not BenchmarkRun.objects.filter(id=last.id, processed_at__isnull=False).exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert Regression.objects.filter(metric="latency_mean_ms", change_run_id=runs[12].id).count() == 1
