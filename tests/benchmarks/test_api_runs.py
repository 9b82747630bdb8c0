import json
import math
import statistics

import pytest

from benchmarks.models import BenchmarkArtifact, BenchmarkOp, BenchmarkRun
from compat.models import CompatEvidence, ModelVersion, RuntimeVersion

from .conftest import ORT_PROFILE, REPO_FIXTURES

URL = "/api/v1/benchmarks/runs/"
IDENTITY = {
    "model": "mobilenet-v3",
    "model_version": "1.0",
    "runtime": "tflite",
    "runtime_version": "2.16.1",
    "delegate": "gpu",
    "device_model": "google-pixel-8",
}
JSON_RUN = {
    **IDENTITY,
    "build": "ci-1042",
    "commit": "3f2a9c1",
    "config": {"threads": 4, "batch": 1, "fp16": True},
    "environment": {"os": "Android 15", "thermal": "nominal"},
    "init_ms": 212.4,
    "first_inference_ms": 19.3,
    "latency_ms": {"count": 200, "mean": 14.2, "std": 0.8, "min": 13.1, "max": 18.0},
    "throughput_per_s": 70.4,
    "peak_memory_mb": 88.1,
    "accelerated_fraction": 1.0,
    "accuracy": {"metric": "top1", "value": 0.752},
    "ops": [{"name": "conv1", "op_type": "Conv", "delegate": "cpu", "avg_ms": 0.35, "share": 0.12}],
}


def test_json_run_is_created_and_reads_back_as_api_md(catalog, write_client):
    response = write_client.post(URL, JSON_RUN, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {
        k: body[k]
        for k in (
            "status",
            "model",
            "model_version",
            "runtime",
            "runtime_version",
            "delegate",
            "device_model",
            "source_format",
        )
    } == {
        "status": "done",
        "model": "mobilenet-v3",
        "model_version": "1.0",
        "runtime": "tflite",
        "runtime_version": "2.16.1",
        "delegate": "gpu",
        "device_model": "google-pixel-8",
        "source_format": "json",
    }
    assert body["latency_ms"] == {
        "count": 200,
        "mean": 14.2,
        "std": 0.8,
        "min": 13.1,
        "max": 18.0,
        "p50": None,
        "p90": None,
        "p95": None,
        "p99": None,
    }
    assert body["init_ms"] == 212.4 and body["first_inference_ms"] == 19.3
    assert body["throughput_per_s"] == 70.4 and body["peak_memory_mb"] == 88.1
    assert body["accuracy"]["metric"] == "top1" and body["accuracy"]["value"] == 0.752
    assert body["accuracy"]["delta_vs_reference"] == pytest.approx(0.752 - 0.756)
    assert body["ops"] == [
        {
            "name": "conv1",
            "op_type": "Conv",
            "delegate": "cpu",
            "accelerated": False,
            "avg_ms": 0.35,
            "share": 0.12,
            "calls": None,
        }
    ]
    assert write_client.get(f"{URL}{body['id']}/").status_code == 403  # write key cannot read


def test_json_samples_are_summarised_when_no_summary_is_sent(catalog, write_client):
    samples = [10.0, 11.0, 12.0, 13.0, 30.0]
    response = write_client.post(URL, {**IDENTITY, "latency_ms": {"samples": samples}}, format="json")
    assert response.status_code == 201
    latency = response.json()["latency_ms"]
    assert latency["mean"] == pytest.approx(statistics.fmean(samples))
    assert latency["std"] == pytest.approx(statistics.pstdev(samples))
    assert latency["p50"] == 12.0 and latency["max"] == 30.0 and latency["count"] == 5


def test_real_onnxruntime_profile_imports_through_multipart_with_figures_from_the_file(
    catalog, write_client, read_client
):
    path = ORT_PROFILE
    raw = path.read_bytes()
    with path.open("rb") as artifact:
        response = write_client.post(
            URL,
            {
                "format": "onnxruntime_profile",
                "artifact": artifact,
                "model": "tinymlp",
                "model_version": "1",
                "runtime": "onnxruntime",
                "runtime_version": "1.31.1",
                "delegate": "cpu",
                "device_model": "google-pixel-8",
                "config": json.dumps({"intra_op_threads": 1}),
            },
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    # independent computation from the profile's own events (µs)
    events = json.loads(raw)
    runs_ms = [event["dur"] / 1000 for event in events if event["name"] == "model_run"]
    assert body["latency_ms"]["count"] == len(runs_ms) == 20
    assert body["latency_ms"]["mean"] == pytest.approx(statistics.fmean(runs_ms))
    assert body["latency_ms"]["min"] == pytest.approx(min(runs_ms))
    assert body["latency_ms"]["max"] == pytest.approx(max(runs_ms))
    assert body["latency_ms"]["p50"] == pytest.approx(sorted(runs_ms)[math.ceil(0.5 * 20) - 1])
    session_init = next(e["dur"] for e in events if e["name"] == "session_initialization") / 1000
    assert body["init_ms"] == pytest.approx(session_init)
    assert body["accelerated_fraction"] == 0.0  # CPU execution provider only
    node_names = {e["name"].removesuffix("_kernel_time") for e in events if e["cat"] == "Node"}
    assert {op["name"] for op in body["ops"]} == node_names
    assert sum(op["share"] for op in body["ops"]) == pytest.approx(1.0)
    assert {op["delegate"] for op in body["ops"]} == {"CPUExecutionProvider"}
    run = BenchmarkRun.objects.get(id=body["id"])
    assert run.artifact.sha256 and bytes(run.artifact.data) == raw
    assert read_client.get(f"{URL}{run.id}/").json()["latency_ms"] == body["latency_ms"]


def test_malformed_artifact_is_400_naming_the_line_and_nothing_is_stored(catalog, write_client):
    broken = b'[\n{"cat": "Session", "name": "model_run", "dur": 10, "ts": 1, "ph": "X"},\n{"cat": \n'
    response = write_client.post(
        URL,
        {
            **IDENTITY,
            "runtime": "onnxruntime",
            "runtime_version": "9.9.9",
            "delegate": "cpu",
            "format": "onnxruntime_profile",
            "artifact": _upload("p.json", broken),
        },
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["line"] == 4 and "line 4" in body["error"]
    assert not BenchmarkRun.objects.exists() and not BenchmarkArtifact.objects.exists()
    assert not RuntimeVersion.objects.filter(version="9.9.9").exists()


def test_malformed_log_field_is_named(catalog, write_client):
    log = b"count=50 first=abc curr=10 min=9 max=12 avg=10.5 std=1\n"
    response = write_client.post(
        URL, {**IDENTITY, "format": "tflite_benchmark_model", "artifact": _upload("run.log", log)}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["line"] == 1
    assert not BenchmarkRun.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("model", "nope"), ("runtime", "nope"), ("delegate", "nnapi-x"), ("device_model", "nokia-3310")],
)
def test_unknown_catalog_slug_is_400_naming_the_field(catalog, write_client, field, value):
    response = write_client.post(URL, {**JSON_RUN, field: value}, format="json")
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert not BenchmarkRun.objects.exists()


def test_unknown_versions_are_400_naming_them_and_the_known_ones_and_nothing_is_created(catalog, write_client):
    response = write_client.post(
        URL, {**JSON_RUN, "model_version": "1.0-int9", "runtime_version": "2.17.0"}, format="json"
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "'1.0-int9'" in detail["model_version"][0]
    # the known versions, closest first: 1.0-int8 is nearer to 1.0-int9 than 1.0 is
    known = detail["model_version"][0].split("known: ")[1].split(";")[0].split(", ")
    assert known == ["1.0-int8", "1.0"]
    assert "'2.17.0'" in detail["runtime_version"][0] and "2.16.1" in detail["runtime_version"][0]
    assert not ModelVersion.objects.filter(version="1.0-int9").exists()
    assert not RuntimeVersion.objects.filter(version="2.17.0").exists()
    assert not BenchmarkRun.objects.exists()


def test_register_versions_true_registers_exactly_the_unknown_versions(catalog, write_client):
    before = (ModelVersion.objects.count(), RuntimeVersion.objects.count())
    response = write_client.post(
        URL, {**JSON_RUN, "model_version": "2.0", "runtime_version": "2.17.0", "register_versions": True}, format="json"
    )
    assert response.status_code == 201
    assert ModelVersion.objects.filter(ml_model__slug="mobilenet-v3", version="2.0").exists()
    assert RuntimeVersion.objects.filter(runtime__slug="tflite", version="2.17.0").exists()
    assert (ModelVersion.objects.count(), RuntimeVersion.objects.count()) == (before[0] + 1, before[1] + 1)


def test_unknown_slug_is_400_even_with_register_versions(catalog, write_client):
    response = write_client.post(URL, {**JSON_RUN, "model": "mobilenet-v4", "register_versions": True}, format="json")
    assert response.status_code == 400
    assert "mobilenet-v3" in response.json()["detail"]["model"][0]  # the close match is named
    assert not BenchmarkRun.objects.exists()


def test_missing_or_wrong_key_is_401(catalog, api_client):
    assert api_client.post(URL, JSON_RUN, format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer ep_nope_wrong")
    assert api_client.post(URL, JSON_RUN, format="json").status_code == 401


@pytest.mark.parametrize("scopes", [["read"], ["ingest"]])
def test_key_without_benchmarks_write_scope_is_403(catalog, api_client, make_api_key, scopes):
    _, raw_key = make_api_key(scopes=scopes)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api_client.post(URL, JSON_RUN, format="json").status_code == 403
    assert not BenchmarkRun.objects.exists()


def test_viewer_session_cannot_post_but_support_can(catalog, client, viewer_user, support_user):
    client.force_login(viewer_user)
    assert client.post(URL, JSON_RUN, content_type="application/json").status_code == 403
    client.force_login(support_user)
    assert client.post(URL, JSON_RUN, content_type="application/json").status_code == 201


def test_failed_runtime_log_is_stored_as_failed_and_is_load_failure_evidence(
    catalog, write_client, django_capture_on_commit_callbacks
):
    log = (REPO_FIXTURES / "tflite_failed_gpu_invoke.log").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = write_client.post(
            URL,
            {**IDENTITY, "format": "tflite_benchmark_model", "artifact": _upload("gpu.log", log)},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "failed"
    assert "failed to invoke" in body["error"]
    evidence = CompatEvidence.objects.get(source="lab")
    assert evidence.load_failed is True
    assert "failed to invoke" in evidence.failure_reason
    assert evidence.entry.model_version.version == "1.0" and evidence.entry.delegate.slug == "gpu"
    assert evidence.link == f"/benchmarks/runs/{body['id']}/"


def test_done_run_pushes_lab_latency_evidence(catalog, write_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        write_client.post(URL, {**JSON_RUN, "latency_ms": {"mean": 14.2, "p95": 16.5}}, format="json")
    evidence = CompatEvidence.objects.get(source="lab")
    assert (evidence.p95_latency_ms, evidence.accelerated_fraction, evidence.peak_rss_mb_p95) == (16.5, 1.0, 88.1)
    assert evidence.load_failed is False and evidence.sample_size == 1


def test_list_is_filterable_and_pinned_against_n_plus_one(
    catalog, write_client, read_client, django_assert_max_num_queries
):
    for build in range(5):
        write_client.post(URL, {**JSON_RUN, "build": f"b{build}"}, format="json")
    write_client.post(URL, {**JSON_RUN, "delegate": "xnnpack"}, format="json")
    assert BenchmarkOp.objects.count() == 6
    with django_assert_max_num_queries(6):  # key lookup + key touch + count + page + ops prefetch
        body = read_client.get(URL, {"delegate": "gpu"}).json()
    assert body["count"] == 5
    assert read_client.get(URL, {"q": "b3"}).json()["count"] == 1


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="application/octet-stream")
