import json
import statistics

import pytest
from django.core.management import CommandError, call_command

from benchmarks.models import BenchmarkRun

from .conftest import ORT_PROFILE, REPO_FIXTURES

ARGS = [
    "--model",
    "tinymlp",
    "--model-version",
    "1",
    "--runtime",
    "onnxruntime",
    "--runtime-version",
    "1.31.1",
    "--delegate",
    "cpu",
    "--device-model",
    "google-pixel-8",
]


def test_command_imports_the_real_ort_profile_with_its_own_figures(catalog, capsys):
    path = ORT_PROFILE
    call_command(
        "import_benchmark",
        "--format",
        "onnxruntime_profile",
        "--file",
        str(path),
        *ARGS,
        "--config",
        '{"intra_op_threads": 1}',
    )
    run = BenchmarkRun.objects.get()
    runs_ms = [e["dur"] / 1000 for e in json.loads(path.read_bytes()) if e["name"] == "model_run"]
    assert run.latency_mean_ms == pytest.approx(statistics.fmean(runs_ms))
    assert run.latency_std_ms == pytest.approx(statistics.pstdev(runs_ms))
    assert run.ops.count() == 16 and run.config == {"intra_op_threads": 1}
    assert bytes(run.artifact.data) == path.read_bytes()
    assert f"Imported run {run.id} (done)" in capsys.readouterr().out


def test_command_imports_a_tflite_op_profiling_log(catalog):
    path = REPO_FIXTURES / "tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log"
    call_command(
        "import_benchmark",
        "--format",
        "tflite_benchmark_model",
        "--file",
        str(path),
        "--model",
        "mobilenet-v3",
        "--model-version",
        "1.0",
        "--runtime",
        "tflite",
        "--runtime-version",
        "2.16.1",
        "--delegate",
        "xnnpack",
        "--device-model",
        "google-pixel-8",
    )
    run = BenchmarkRun.objects.get()
    assert run.status == "done" and run.ops.exists() and run.latency_mean_ms is not None


def test_command_names_the_unknown_slug(catalog, tmp_path):
    log = tmp_path / "run.log"
    log.write_text("count=50 first=1000 curr=1000 min=900 max=1200 avg=1000 std=10\n")
    with pytest.raises(CommandError, match="--device-model"):
        call_command(
            "import_benchmark",
            "--format",
            "tflite_benchmark_model",
            "--file",
            str(log),
            "--model",
            "mobilenet-v3",
            "--model-version",
            "1.0",
            "--runtime",
            "tflite",
            "--runtime-version",
            "2.16.1",
            "--delegate",
            "gpu",
            "--device-model",
            "nokia-3310",
        )
    assert not BenchmarkRun.objects.exists()


def test_command_reports_a_malformed_artifact_and_stores_nothing(catalog, tmp_path):
    broken = tmp_path / "p.json"
    broken.write_text("[\n{\n")
    with pytest.raises(CommandError, match="malformed artifact: line"):
        call_command("import_benchmark", "--format", "onnxruntime_profile", "--file", str(broken), *ARGS)
    assert not BenchmarkRun.objects.exists()


def test_command_recognises_the_format_by_default_and_says_so(catalog, capsys):
    call_command("import_benchmark", "--file", str(ORT_PROFILE), *ARGS)
    run = BenchmarkRun.objects.get()
    assert run.source_format == "onnxruntime_profile" and run.source_format_detected is True
    assert "as onnxruntime_profile (detected)" in capsys.readouterr().out


def test_command_refuses_an_unknown_version_unless_asked_to_register_it(catalog):
    args = [arg if arg != "1.31.1" else "1.32.0" for arg in ARGS]
    with pytest.raises(CommandError, match=r"--runtime-version: unknown version '1.32.0' of runtime 'onnxruntime'"):
        call_command("import_benchmark", "--file", str(ORT_PROFILE), *args)
    assert not BenchmarkRun.objects.exists()
    call_command("import_benchmark", "--file", str(ORT_PROFILE), *args, "--register-versions")
    assert BenchmarkRun.objects.get().runtime_version.version == "1.32.0"


def test_command_names_the_formats_tried_when_nothing_fits(catalog, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("nothing a benchmark tool printed\n")
    with pytest.raises(CommandError, match="format not recognised .*trtexec_log: "):
        call_command("import_benchmark", "--file", str(path), *ARGS)
