"""onnxruntime_perf_test output importer: figures are the ones the tool printed, converted to ms / MB."""

import re
from pathlib import Path

import pytest

from benchmarks.importers.base import ArtifactError
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.importers.onnxruntime_perf_test import parse

FIXTURES = Path(__file__).parent / "fixtures"
CURRENT = FIXTURES / "onnxruntime_perf_test_mobilenetv2_cpu.txt"
OLDER = FIXTURES / "onnxruntime_perf_test_older_wording.txt"
FAILED = FIXTURES / "onnxruntime_perf_test_failed_run.txt"


def printed(text: str, label: str) -> float:
    """The number after a label in the tool's output, found independently of the importer."""
    return float(re.search(rf"^{re.escape(label)}\s*(\S+)", text, re.M)[1])


def test_current_output_gives_session_first_inference_and_throughput_figures():
    text = CURRENT.read_text()
    run = parse(text)
    assert run.status == "done"
    assert run.init_ms == pytest.approx(printed(text, "Session creation time cost:") * 1000)
    assert run.first_inference_ms == printed(text, "First inference time cost:")
    assert run.throughput_per_s == printed(text, "Number of inferences per second:")
    assert run.wall_time_ms == pytest.approx(printed(text, "Total inference run time:") * 1000)
    assert run.cpu_usage_percent == printed(text, "Avg CPU usage:")
    assert run.peak_memory_mb == pytest.approx(printed(text, "Peak working set size:") / 2**20)
    assert run.environment == {"intra_op_num_threads": "4"}


def test_current_output_latency_is_the_printed_mean_and_percentiles_in_ms():
    text = CURRENT.read_text()
    latency = parse(text).latency
    assert latency.count == printed(text, "Total inference requests:")
    assert latency.mean_ms == printed(text, "Average inference time cost:")
    for label, attribute in [("Min", "min_ms"), ("Max", "max_ms"), ("P50", "p50_ms"), ("P90", "p90_ms"),
                             ("P95", "p95_ms"), ("P99", "p99_ms"), ("P999", "p999_ms")]:  # fmt: skip
        assert getattr(latency, attribute) == pytest.approx(printed(text, f"{label} Latency:") * 1000)
    assert latency.std_ms is None and latency.samples_ms == []  # the tool prints neither


def test_older_wording_is_read_and_absent_figures_stay_none():
    text = OLDER.read_text()
    run = parse(text)
    assert run.latency.count == printed(text, "Total iterations:")
    assert run.latency.mean_ms == printed(text, "Average time cost:")
    assert run.latency.p99_ms == pytest.approx(printed(text, "P99 Latency is") * 1000)
    assert (run.init_ms, run.throughput_per_s, run.peak_memory_mb, run.first_inference_ms) == (None,) * 4


def test_run_failure_is_a_failed_run_with_the_runtime_error_lines():
    lines = FAILED.read_text().splitlines()
    run = parse(FAILED.read_bytes())
    assert run.status == "failed"
    assert run.error == lines[2] and run.error.startswith("Run failed:")
    assert run.error_lines == [lines[1], lines[2]]  # the runtime's [E:onnxruntime:...] line, then the tool's
    assert run.latency is None


def test_onnxruntime_exception_text_is_a_failure():
    run = parse("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from m.onnx failed:Protobuf parsing failed.\n")
    assert (run.status, run.error_lines) == ("failed", [run.error])


def test_parse_artifact_dispatches_the_perf_test_format():
    assert parse_artifact(source_format="onnxruntime_perf_test", data=CURRENT.read_bytes()) == parse(
        CURRENT.read_text()
    )


@pytest.mark.parametrize(
    ("needle", "replacement"),
    [
        ("P95 Latency: 0.0038012 s", "P95 Latency: nan s"),
        ("Average inference time cost: 3.41277 ms", "Average inference time cost: -3.41277 ms"),
        ("Session creation time cost: 0.0714258 s", "Session creation time cost: 0.07x s"),
        ("Peak working set size: 73814016 bytes", "Peak working set size: inf bytes"),
    ],
)
def test_malformed_figure_is_rejected_naming_its_line(needle, replacement):
    text = CURRENT.read_text().replace(needle, replacement)
    expected_line = text.splitlines().index(replacement) + 1
    with pytest.raises(ArtifactError) as excinfo:
        parse(text)
    assert excinfo.value.line == expected_line
    assert str(excinfo.value).startswith(f"line {expected_line}:")


def test_output_without_any_figure_is_rejected():
    with pytest.raises(ArtifactError) as excinfo:
        parse("Setting intra_op_num_threads to 4\nSession creation time cost: 0.07 s\n")
    assert excinfo.value.field == "latency"
