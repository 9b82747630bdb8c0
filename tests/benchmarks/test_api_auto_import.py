"""POST /api/v1/benchmarks/runs/ with format=auto: the tool is recognised and recorded, bad files are a 400 saying
what is wrong with nothing stored, and a failure the tool reports is a stored failed run and compat evidence."""

import gzip
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from benchmarks.models import BenchmarkArtifact, BenchmarkOp, BenchmarkRun
from compat.models import CompatEvidence, Delegate, ModelVersion, Runtime, RuntimeVersion

from .conftest import REPO_FIXTURES

URL = "/api/v1/benchmarks/runs/"
FORMATS = {"tflite_benchmark_model", "onnxruntime_profile", "trtexec_times", "trtexec_profile",
           "onnxruntime_perf_test", "trtexec_log", "openvino_benchmark_app", "executorch_runner"}  # fmt: skip


@pytest.fixture
def tensorrt(catalog):
    runtime = Runtime.objects.create(slug="tensorrt", name="TensorRT")
    RuntimeVersion.objects.create(runtime=runtime, version="8.4.0")
    Delegate.objects.create(runtime=runtime, slug="gpu", name="GPU", kind="gpu")
    Delegate.objects.create(runtime=runtime, slug="dla", name="DLA", kind="npu")
    return runtime


def _post(client, name: str, data: bytes, **identity):
    fields = {
        "model": "mobilenet-v3",
        "model_version": "1.0",
        "runtime": "tensorrt",
        "delegate": "gpu",
        "device_model": "google-pixel-8",
        **identity,
    }
    return client.post(URL, {**fields, "artifact": SimpleUploadedFile(name, data)}, format="multipart")


def test_auto_recognises_a_trtexec_log_and_the_run_says_what_was_detected(tensorrt, write_client):
    data = (REPO_FIXTURES / "trtexec_log_trt84_xavier_mnist_batch16.txt").read_bytes()
    response = _post(write_client, "trtexec.log", data)  # no format, no runtime_version: both from the log
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source_format"] == "trtexec_log" and body["source_format_detected"] is True
    assert body["source_tool_version"] == "8.4.0" and body["runtime_version"] == "8.4.0"
    assert body["latency_ms"]["mean"] == 0.402238 and body["latency_ms"]["p99"] == 0.420288
    assert body["throughput_per_s"] == 41087.7


def test_an_explicit_slug_still_works_and_is_not_marked_detected(tensorrt, write_client):
    data = (REPO_FIXTURES / "trtexec_log_trt84_xavier_mnist_batch16.txt").read_bytes()
    response = _post(write_client, "trtexec.log", data, format="trtexec_log")
    assert response.status_code == 201
    assert response.json()["source_format_detected"] is False


def test_nothing_fits_is_400_naming_every_format_tried_and_why(tensorrt, write_client):
    response = _post(write_client, "notes.txt", b"lunch at noon\nthen the build\n", runtime_version="8.4.0")
    assert response.status_code == 400
    body = response.json()
    assert set(body["tried"]) == FORMATS
    assert all(reason for reason in body["tried"].values())
    assert "Performance summary" in body["tried"]["trtexec_log"]
    assert not BenchmarkRun.objects.exists()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (gzip.compress(b"=== Performance summary ===\n"), "binary"),
        (b"\xff\xfe=== Performance summary ===", "UTF-8"),
        (b'[{"latencyMs": 1.0}, {"latencyMs": ', "JSON"),  # truncated export
        (b"=== Performance summary ===\nLatency: min = 1 ms, max = oops ms, mean = 2 ms\n", "line 2"),
        (b"=== Performance summary ===\n", "no performance figures"),
    ],
)
def test_unreadable_files_are_400_saying_what_is_wrong_and_nothing_is_stored(tensorrt, write_client, data, needle):
    before = (ModelVersion.objects.count(), RuntimeVersion.objects.count())
    response = _post(write_client, "artifact.bin", data, runtime_version="8.5.0", register_versions="true")
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert not BenchmarkRun.objects.exists() and not BenchmarkArtifact.objects.exists()
    assert (ModelVersion.objects.count(), RuntimeVersion.objects.count()) == before  # nothing registered either


def test_a_file_over_the_upload_limit_is_400_and_not_read(tensorrt, write_client, settings):
    settings.BENCHMARK_ARTIFACT_MAX_BYTES = 1024
    data = (REPO_FIXTURES / "trtexec_log_trt84_xavier_mnist_batch16.txt").read_bytes()
    assert len(data) > 1024
    response = _post(write_client, "trtexec.log", data)
    assert response.status_code == 400
    assert "over the upload limit of 1,024 bytes" in json.dumps(response.json())
    assert not BenchmarkRun.objects.exists()


def test_wrong_explicit_format_is_400_not_a_misread_run(tensorrt, write_client):
    data = (REPO_FIXTURES / "openvino_benchmark_app_2024_1_nanonet_cpu.txt").read_bytes()
    response = _post(write_client, "ov.txt", data, format="trtexec_log", runtime_version="8.4.0")
    assert response.status_code == 400
    assert not BenchmarkRun.objects.exists()


def test_a_failure_trtexec_reports_is_a_stored_failed_run_and_load_failure_evidence(
    tensorrt, write_client, django_capture_on_commit_callbacks
):
    data = (REPO_FIXTURES / "trtexec_log_failed_plugin_trt86_sd_webui.txt").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(write_client, "build.log", data, runtime_version="8.4.0")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "failed" and body["source_format"] == "trtexec_log"
    assert "Engine set up failed" in body["error"] and "Failed to parse onnx file" in body["error"]
    evidence = CompatEvidence.objects.get(source="lab")
    assert evidence.load_failed is True and "Engine set up failed" in evidence.failure_reason


def test_unknown_runtime_version_read_from_the_artifact_is_400_unless_registered(tensorrt, write_client):
    data = (REPO_FIXTURES / "trtexec_log_trt84_xavier_mnist_batch16.txt").read_bytes()
    RuntimeVersion.objects.filter(version="8.4.0").delete()
    response = _post(write_client, "trtexec.log", data)
    assert response.status_code == 400
    assert "'8.4.0'" in response.json()["detail"]["runtime_version"][0]
    assert not RuntimeVersion.objects.filter(version="8.4.0").exists()
    response = _post(write_client, "trtexec.log", data, register_versions="true")
    assert response.status_code == 201
    assert RuntimeVersion.objects.filter(runtime__slug="tensorrt", version="8.4.0").count() == 1


def test_long_layer_names_differing_only_at_the_end_are_kept_whole_and_dla_layers_are_not_gpu(tensorrt, write_client):
    stem = "{ForeignNode[" + "+".join(f"conv{i}/Conv_output_0" for i in range(300))
    profile = [
        {"count": 100},
        {"name": stem + "...a]} DLA", "timeMs": 50.0, "averageMs": 0.5, "percentage": 50.0},
        {"name": stem + "...b]} DLA", "timeMs": 30.0, "averageMs": 0.3, "percentage": 30.0},
        {"name": "Reformatting CopyNode for Output Tensor 0", "timeMs": 20.0, "averageMs": 0.2, "percentage": 20.0},
    ]
    assert len(profile[1]["name"]) > 5000
    response = _post(write_client, "profile.json", json.dumps(profile).encode(), runtime_version="8.4.0")
    assert response.status_code == 201, response.json()
    ops = list(BenchmarkOp.objects.order_by("position"))
    assert [op.name for op in ops] == [layer["name"] for layer in profile[1:]]
    assert [op.delegate for op in ops] == ["dla", "dla", "gpu"]


RUNTIME_OF = {
    "trtexec": "tensorrt",
    "openvino": "openvino",
    "onnxruntime": "onnxruntime",
    "tflite": "tflite",
    "executorch": "executorch",
}


@pytest.mark.parametrize(
    "name",
    sorted(
        path.name
        for path in REPO_FIXTURES.iterdir()
        if path.suffix in (".txt", ".log", ".json") and not path.name.startswith("make_")
    ),
)
def test_every_fixture_uploads_with_format_auto_as_a_run_never_a_5xx(catalog, write_client, name):
    runtime_slug = RUNTIME_OF[name.split("_")[0]]
    runtime, _ = Runtime.objects.get_or_create(slug=runtime_slug, defaults={"name": runtime_slug})
    Delegate.objects.get_or_create(runtime=runtime, slug="gpu", defaults={"name": "GPU", "kind": "gpu"})
    data = (REPO_FIXTURES / name).read_bytes()
    response = _post(write_client, name, data, runtime=runtime_slug, runtime_version="", register_versions="true")
    if response.status_code == 400 and "runtime_version" in response.json()["detail"]:
        response = _post(
            write_client, name, data, runtime=runtime_slug, runtime_version="1.0", register_versions="true"
        )
    assert response.status_code == 201, response.json()
    assert response.json()["source_format_detected"] is True
