import csv
import io
import statistics

import pytest

from benchmarks.importers.base import OpProfile
from benchmarks.models import BenchmarkSeries, Regression, RegressionStatus
from benchmarks.processing import series_detect

from .conftest import make_run


def _ops(conv_ms: float, resize_delegate: str = "GPU"):
    return [
        OpProfile(name="conv1", op_type="CONV_2D", delegate="GPU", accelerated=True, avg_ms=conv_ms, share=None),
        OpProfile(
            name="resize",
            op_type="RESIZE_BILINEAR",
            delegate=resize_delegate,
            accelerated=resize_delegate == "GPU",
            avg_ms=0.5,
            share=None,
        ),
    ]


@pytest.fixture
def history(catalog):
    runs = [
        make_run(
            day=d,
            mean=10.0 * (1.15 if d >= 10 else 1.0) * (1 + 0.005 * (d % 3)),
            accuracy=0.75,
            samples=[9.9 + 0.05 * i + (1.5 if d >= 10 else 0) for i in range(8)],
            ops=_ops(3.0 if d < 10 else 4.5, "GPU" if d < 10 else "cpu"),
        )
        for d in range(16)
    ]
    series_detect(series=runs[0].series)
    return runs


def test_runs_page_filters_and_has_a_pinned_query_count(client, viewer_user, history, django_assert_num_queries):
    client.force_login(viewer_user)
    # session, user, groups (nav role), user + group perms, count, page (none per row), and the choice lists of the
    # four catalog dropdowns (model, runtime, delegate, device model) plus cleaning the two used: constant per page.
    with django_assert_num_queries(13):
        response = client.get("/benchmarks/", {"delegate": "gpu", "model": "mobilenet-v3"})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 16
    assert client.get("/benchmarks/", {"delegate": "xnnpack"}).context["page"].paginator.count == 0


def test_run_page_shows_metrics_ops_and_the_cpu_fallback(client, viewer_user, history):
    client.force_login(viewer_user)
    run = history[-1]
    response = client.get(f"/benchmarks/runs/{run.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "RESIZE_BILINEAR" in html and "ops-by-delegate" in html and f"latency-{run.id}" in html
    assert response.context["fallback_ops"][0].name == "resize"


def test_compare_defaults_to_the_pinned_baseline_and_tests_significance(client, support_user, history):
    client.force_login(support_user)
    baseline = history[2]
    assert client.post(f"/benchmarks/runs/{baseline.id}/baseline/").status_code == 302
    response = client.get("/benchmarks/compare/", {"a": history[-1].id})
    assert response.context["b"].id == baseline.id
    rows = {row.label: row for row in response.context["comparison"].rows}
    assert rows["Latency mean"].verdict == "worse"
    assert "Welch" in rows["Latency mean"].significance and "significant" in rows["Latency mean"].significance
    # One value per run: the change is stated, never called better or worse.
    assert (rows["Peak memory"].significance, rows["Peak memory"].verdict) == ("one value per run: no test", "")
    # The summary's std moved by ~14 %, but the samples' spread did not change: the test says "same".
    a, b = history[-1], baseline
    assert rows["Latency std"].change_pct == pytest.approx(
        (a.latency_std_ms - b.latency_std_ms) / b.latency_std_ms * 100
    )
    assert rows["Latency std"].verdict == "same" and "Brown–Forsythe" in rows["Latency std"].significance
    diffs = {d.name: d for d in response.context["comparison"].op_diffs}
    assert diffs["conv1"].diff_ms == pytest.approx(1.5) and diffs["resize"].delegate_changed


def test_compare_exports_markdown_and_csv(client, viewer_user, history):
    client.force_login(viewer_user)
    a, b = history[-1], history[0]
    markdown = client.get("/benchmarks/compare/", {"a": a.id, "b": b.id, "format": "md"})
    text = markdown.content.decode()
    assert markdown["Content-Type"].startswith("text/markdown")
    assert f"run {a.id} vs run {b.id}" in text and "| Latency mean | ms |" in text and "| conv1 |" in text
    response = client.get("/benchmarks/compare/", {"a": a.id, "b": b.id, "format": "csv"})
    rows = {row["metric"]: row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert float(rows["Latency mean"][f"run_{a.id}"]) == pytest.approx(a.latency_mean_ms)
    assert float(rows["Latency mean"]["change_pct"]) == pytest.approx(
        (a.latency_mean_ms - b.latency_mean_ms) / b.latency_mean_ms * 100, rel=1e-3
    )
    assert (rows["Accuracy"]["verdict"], rows["Accuracy"]["change_pct"]) == ("", "")


def test_compare_page_draws_the_pareto_front_of_the_variants(client, viewer_user, history):
    make_run(day=30, mean=4.0, model_version="1.0-int8", accuracy=0.72)
    client.force_login(viewer_user)
    response = client.get("/benchmarks/compare/", {"a": history[-1].id, "b": history[0].id})
    front = response.context["pareto_front"]
    assert [run.model_version.version for run in front] == ["1.0-int8", "1.0"]
    assert "tradeoff" in response.content.decode()


def test_regression_dashboard_lists_open_ones_with_trends(client, viewer_user, history, django_assert_max_num_queries):
    client.force_login(viewer_user)
    # 11: the fleet's device count first probes the trailing window (none built here), then reads the activity rows.
    with django_assert_max_num_queries(11):
        response = client.get("/benchmarks/regressions/")
    assert response.status_code == 200
    metrics = {r.metric for r in response.context["regressions"]}
    assert "latency_mean_ms" in metrics
    assert len(response.context["trend_charts"]) == 1
    assert "/triage/" not in response.content.decode()  # viewers get no triage buttons


def test_viewer_cannot_triage_support_can(client, viewer_user, support_user, history):
    regression = Regression.objects.filter(metric="latency_mean_ms").get()
    client.force_login(viewer_user)
    url = f"/benchmarks/regressions/{regression.id}/triage/"
    assert client.post(url, {"status": "fixed"}).status_code == 403
    assert client.post(f"/benchmarks/runs/{history[0].id}/baseline/").status_code == 403
    client.force_login(support_user)
    assert client.post(url, {"status": "acknowledged"}).status_code == 302
    regression.refresh_from_db()
    assert regression.status == RegressionStatus.ACKNOWLEDGED and regression.triaged_by == support_user


def test_triage_needs_csrf(support_user, history):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(support_user)
    regression = Regression.objects.filter(metric="latency_mean_ms").get()
    assert client.post(f"/benchmarks/regressions/{regression.id}/triage/", {"status": "fixed"}).status_code == 403


def test_regressions_api_filters_and_patch_is_for_support_sessions(
    client, read_client, viewer_user, support_user, history
):
    url = "/api/v1/benchmarks/regressions/"
    body = read_client.get(url, {"metric": "latency_mean_ms", "status": "open"}).json()
    assert body["count"] == 1
    detail = f"{url}{body['results'][0]['id']}/"
    assert read_client.patch(detail, {"status": "fixed"}, format="json").status_code == 403
    client.force_login(viewer_user)
    assert client.patch(detail, {"status": "fixed"}, content_type="application/json").status_code == 403
    client.force_login(support_user)
    response = client.patch(detail, {"status": "false_positive"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "false_positive"
    assert read_client.get(url, {"status": "open", "metric": "latency_mean_ms"}).json()["count"] == 0


def test_artifact_is_downloadable_from_the_run_page(client, viewer_user, catalog):
    from benchmarks.services import RunIdentity, benchmark_run_import

    from .conftest import REPO_FIXTURES

    data = (REPO_FIXTURES / "tflite_gpu_complete_peak_monitoring.log").read_bytes()
    run = benchmark_run_import(
        identity=RunIdentity(
            model="mobilenet-v3",
            model_version="1.0",
            runtime="tflite",
            runtime_version="2.16.1",
            delegate="gpu",
            device_model="google-pixel-8",
        ),
        source_format="tflite_benchmark_model",
        data=data,
        filename="gpu.log",
        enqueue=False,
    )
    client.force_login(viewer_user)
    assert f"/benchmarks/runs/{run.id}/artifact/" in client.get(f"/benchmarks/runs/{run.id}/").content.decode()
    response = client.get(f"/benchmarks/runs/{run.id}/artifact/")
    assert response.streaming and b"".join(response.streaming_content) == data
    assert 'filename="gpu.log"' in response["Content-Disposition"] and response["Content-Length"] == str(len(data))
    assert BenchmarkSeries.objects.count() == 1


def test_an_artifact_download_streams_in_chunks_never_loading_the_whole_file(viewer_user, catalog):
    import hashlib

    from benchmarks import selectors
    from benchmarks.models import BenchmarkArtifact

    run = make_run(day=0, mean=10.0)
    data = bytes(range(256)) * 4099  # ~1 MiB, not a multiple of the chunk
    artifact = BenchmarkArtifact.objects.create(
        run=run, filename="big.bin", size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data
    )
    chunks = list(selectors.artifact_chunks(artifact_id=artifact.pk, size=len(data), chunk_bytes=100_000))
    assert [len(c) for c in chunks] == [100_000] * 10 + [len(data) - 1_000_000]
    assert b"".join(chunks) == data


def test_accuracy_changes_are_stated_in_points_not_as_a_percentage_of_a_percentage(client, viewer_user, catalog):
    reference = make_run(day=0, mean=10.0, accuracy=75.2)
    candidate = make_run(day=1, mean=10.0, accuracy=74.8)
    client.force_login(viewer_user)
    rows = {r.label: r for r in client.get("/benchmarks/compare/", {"a": candidate.id, "b": reference.id}).context[
        "comparison"
    ].rows}  # fmt: skip
    accuracy = rows["Accuracy"]
    assert accuracy.change_pct is None and accuracy.change_abs == pytest.approx(-0.4)
    assert accuracy.change_text == "-0.4 points"
    delta = rows["Accuracy delta vs reference"]
    if delta.a is not None and delta.b is not None:
        assert delta.change_pct is None and delta.change_text.endswith(" points")


def test_a_spread_change_is_worse_only_when_the_samples_say_so(client, viewer_user, catalog):
    steady = make_run(day=0, mean=10.0, samples=[10.0 + 0.01 * (i % 5) for i in range(40)])
    jittery_samples = [10.0 + (2.0 if i % 2 else -2.0) for i in range(40)]
    jittery = make_run(day=1, mean=10.0, samples=jittery_samples)
    type(jittery).objects.filter(pk=jittery.pk).update(latency_std_ms=statistics.stdev(jittery_samples))
    client.force_login(viewer_user)
    comparison = client.get("/benchmarks/compare/", {"a": jittery.id, "b": steady.id}).context["comparison"]
    std = next(r for r in comparison.rows if r.label == "Latency std")
    assert std.verdict == "worse" and "significant)" in std.significance


def test_the_pareto_front_lists_each_variant_once_whatever_runtime_versions_it_ran_on(client, viewer_user, history):
    from compat.models import RuntimeVersion

    newer = RuntimeVersion.objects.create(runtime=history[0].runtime_version.runtime, version="2.17.0")
    latest = make_run(day=20, mean=11.0, accuracy=0.75)
    latest.runtime_version = newer
    latest.save(update_fields=["runtime_version"])
    client.force_login(viewer_user)
    response = client.get("/benchmarks/compare/", {"a": latest.id, "b": history[0].id})
    front = response.context["pareto_front"]
    keys = [(r.model_version_id, r.runtime_version.runtime_id, r.delegate_id) for r in front]
    assert len(keys) == len(set(keys)) and latest.id in {r.id for r in front}
    assert "2.17.0/gpu" in response.content.decode()


def test_triage_never_redirects_off_the_site(client, support_user, history):
    regression = Regression.objects.filter(metric="latency_mean_ms").get()
    client.force_login(support_user)
    url = f"/benchmarks/regressions/{regression.id}/triage/"
    response = client.post(url, {"status": "acknowledged", "next": "https://evil.example/phish"})
    assert response.status_code == 302 and response["Location"] == "/benchmarks/regressions/"
    response = client.post(url, {"status": "acknowledged", "next": "/benchmarks/regressions/?status=open"})
    assert response["Location"] == "/benchmarks/regressions/?status=open"
