"""TFLite benchmark_model log importer: figures come from the log's own lines, failures stay results."""

import re
from pathlib import Path

import pytest

from benchmarks.importers.base import ArtifactError
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.importers.tflite_benchmark_model import parse

FIXTURES = Path(__file__).parent / "fixtures"


def read(name: str) -> str:
    return (FIXTURES / name).read_text()


def line_number(text: str, needle: str) -> int:
    """1-based number of the first line containing needle, found independently of the importer."""
    return next(number for number, line in enumerate(text.splitlines(), start=1) if needle in line)


def run_order_rows(text: str) -> list[tuple[str, float, int, str]]:
    """(type, avg ms, times called, name) of the regular runs' Run Order table, split on the tool's tabs."""
    lines = text.split("Operator-wise Profiling Info for Regular Benchmark Runs:")[1].splitlines()
    start = next(index for index, line in enumerate(lines) if "= Run Order =" in line) + 2
    rows = []
    for line in lines[start:]:
        if "\t" not in line:
            break
        cells = [cell.strip() for cell in line.split("\t")[1:]]  # before the first tab: empty or a log prefix
        rows.append((cells[0], float(cells[-6]), int(cells[-2]), cells[-1]))
    return rows


@pytest.mark.parametrize(
    ("name", "init", "first", "warmup", "count", "mean", "std", "low", "high", "init_mb", "peak_mb"),
    [
        # Values as printed in the real logs (microseconds in the file, milliseconds here).
        ("yolov5s_fp32_cpu.log", 16.242, 360.262, 304.586, 50, 249.684, 1.442, 247.067, 254.474, 4.92969, 138.809),
        (
            "yolov5s_fp32_nnapi_qti_gpu.log",
            404.292,
            188.086,
            175.313,
            50,
            156.669,
            2.352,
            149.738,
            161.935,
            6.80469,
            61.0078,
        ),
    ],
)
def test_real_write_up_logs_give_the_printed_figures_in_ms(
    name, init, first, warmup, count, mean, std, low, high, init_mb, peak_mb
):
    run = parse((FIXTURES / f"tflite_{name}").read_bytes())
    assert run.status == "done"
    assert run.init_ms == pytest.approx(init)
    assert run.first_inference_ms == pytest.approx(first)
    assert run.warmup_avg_ms == pytest.approx(warmup)
    assert (run.latency.count, run.latency.mean_ms, run.latency.std_ms) == (
        count,
        pytest.approx(mean),
        pytest.approx(std),
    )
    assert (run.latency.min_ms, run.latency.max_ms) == (pytest.approx(low), pytest.approx(high))
    assert (run.init_memory_mb, run.peak_memory_mb) == (pytest.approx(init_mb), pytest.approx(peak_mb))
    assert run.throughput_per_s == pytest.approx(1000 / mean)


def test_summary_only_log_has_no_percentiles_samples_ops_or_acceleration():
    run = parse((FIXTURES / "tflite_yolov5s_fp32_cpu.log").read_bytes())
    latency = run.latency
    assert (latency.p50_ms, latency.p90_ms, latency.p95_ms, latency.p99_ms, latency.samples_ms) == (
        None,
        None,
        None,
        None,
        [],
    )
    assert run.ops == [] and run.accelerated_fraction is None and run.model_size_mb is None


def test_xnnpack_op_profile_counts_delegate_ops_as_accelerated_by_time():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    rows = run_order_rows(text)
    per_run = [avg * calls for _, avg, calls, _ in rows]
    delegated = sum(time for time, row in zip(per_run, rows, strict=True) if row[3].startswith("Delegate/"))

    run = parse(text)

    assert [op.name for op in run.ops] == [row[3] for row in rows]
    assert [op.avg_ms for op in run.ops] == pytest.approx(per_run)
    assert [op.share for op in run.ops] == pytest.approx([time / sum(per_run) for time in per_run])
    assert run.accelerated_fraction == pytest.approx(delegated / sum(per_run))
    assert {op.op_type for op in run.ops if not op.accelerated} == {"TFLite_Detection_PostProcess", "CAST"}
    assert run.profiled_runs == 64


def test_initialization_profile_and_top_by_time_tables_are_not_counted_as_ops():
    run = parse(read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log"))
    names = [op.name for op in run.ops]
    assert "AllocateTensors/0" not in names and "ModifyGraphWithDelegate/0" not in names
    assert len(names) == len(set(names)) == 7


def test_xnnpack_log_reads_timings_memory_model_size_and_parameters():
    run = parse(read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log"))
    assert (run.init_ms, run.first_inference_ms, run.model_size_mb) == (41.337, 19.834, 24.2406)
    assert (run.latency.count, run.latency.mean_ms) == (64, pytest.approx(15.3338))
    assert (run.init_memory_mb, run.peak_memory_mb) == (38.1016, 52.9141)
    assert run.delegates == ["XNNPACK"]
    assert run.environment["Num threads"] == "4"


def test_log_with_only_the_op_profile_takes_latency_from_its_timings_line():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    profile_only = text[text.index("INFO: Operator-wise Profiling Info") :]
    timings = re.search(r"Timings \(microseconds\): count=(\d+) .*avg=(\S+) std=(\S+)", profile_only)

    run = parse(profile_only)

    assert run.status == "done"
    assert run.latency.count == int(timings[1])
    assert run.latency.mean_ms == pytest.approx(float(timings[2]) / 1000)
    assert run.latency.std_ms == pytest.approx(float(timings[3]) / 1000)
    assert len(run.ops) == 7 and run.init_ms is None


def test_summary_by_node_type_is_used_when_the_run_order_table_is_missing():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    profile = text[text.index("INFO: Operator-wise Profiling Info") :]
    without_run_order = re.sub(r"=+ Run Order =+\n.*?\n\n", "", profile, flags=re.S)
    expected = parse(text).accelerated_fraction

    run = parse(without_run_order)

    assert {op.op_type for op in run.ops} == {op.op_type for op in parse(text).ops}
    assert run.accelerated_fraction == pytest.approx(expected, abs=1e-3)


def test_partially_delegated_gpu_logcat_log_splits_time_between_gpu_kernels_and_cpu_ops():
    text = read("tflite_deeplab_v3_gpu_partial_logcat.log")
    rows = run_order_rows(text)
    gpu = sum(avg * calls for op_type, avg, calls, _ in rows if op_type == "TfLiteGpuDelegateV2")
    total = sum(avg * calls for _, avg, calls, _ in rows)

    run = parse(text)

    assert run.status == "done" and run.error_lines == []  # GPU "not supported" errors do not fail a run
    assert (run.delegation, run.delegate_kernels, run.delegates) == ("partial", 2, ["GPU"])
    assert run.accelerated_fraction == pytest.approx(gpu / total)
    assert run.delegate_summary == pytest.approx({"TfLiteGpuDelegateV2": gpu / total, "cpu": 1 - gpu / total})
    assert {op.delegate for op in run.ops if not op.accelerated} == {"cpu"}
    assert (run.latency.count, run.latency.mean_ms, run.init_ms) == (78, pytest.approx(12.3846), 1462.11)


def test_older_layout_with_start_column_and_peak_memory_wording_is_read():
    text = read("tflite_mobilenet_v2_cpu_older_layout.log")
    rows = run_order_rows(text)

    run = parse(text)

    assert [op.avg_ms for op in run.ops] == pytest.approx([avg * calls for _, avg, calls, _ in rows])
    assert run.accelerated_fraction == 0.0
    assert (run.init_memory_mb, run.peak_memory_mb) == (0.0, 9.87109)
    assert (run.latency.count, run.latency.mean_ms, run.warmup_avg_ms) == (280, 3.56614, 3.60566)


def test_zero_times_called_counts_the_row_once_per_run():
    text = read("tflite_mobilenet_v2_cpu_older_layout.log").replace("\t        1\t[", "\t        0\t[")
    run = parse(text)
    assert [op.avg_ms for op in run.ops] == [avg for _, avg, _, _ in run_order_rows(text)]
    assert all(op.calls is None for op in run.ops)


def test_completely_delegated_log_without_tables_is_fully_accelerated():
    run = parse(read("tflite_gpu_complete_peak_monitoring.log"))
    assert (run.delegation, run.accelerated_fraction, run.ops) == ("complete", 1.0, [])
    assert (run.peak_memory_mb, run.peak_memory_monitored_mb) == (134.563, 171.02)


def test_partially_delegated_log_without_tables_has_unknown_accelerated_fraction():
    run = parse(read("tflite_nnapi_partial_logcat.log"))
    assert (run.delegation, run.delegate_kernels, run.delegates) == ("partial", 37, ["NNAPI"])
    assert run.accelerated_fraction is None
    assert (run.latency.count, run.latency.mean_ms, run.first_inference_ms) == (77, 12.2883, 31.877)
    assert run.environment["NNAPI accelerator name"] == "qti-dsp"


@pytest.mark.parametrize(
    ("name", "error", "error_lines"),
    [
        (
            "tflite_failed_apply_xnnpack_delegate.log",
            "Failed to apply XNNPACK delegate.",
            ["Failed to apply XNNPACK delegate.", "Benchmarking failed."],
        ),
        (
            "tflite_failed_gpu_invoke.log",
            "Node number 421 (TfLiteGpuDelegateV2) failed to invoke.",
            [
                "TfLiteGpuDelegate Invoke: Failed to read data from GPU (clEnqueueReadBuffer) - Out of resources",
                "Node number 421 (TfLiteGpuDelegateV2) failed to invoke.",
                "Benchmarking failed.",
            ],
        ),
        (
            "tflite_failed_allocate_tensors.log",
            "Node number 12 (RESHAPE) failed to prepare.",
            [
                "tensorflow/lite/kernels/reshape.cc:92 num_input_elements != num_output_elements (32768 != 16384)",
                "Node number 12 (RESHAPE) failed to prepare.",
                "Failed to allocate tensors!",
                "Benchmarking failed.",
            ],
        ),
    ],
)
def test_runtime_failure_is_a_failed_run_with_its_error_lines(name, error, error_lines):
    run = parse(read(name))
    assert (run.status, run.error, run.error_lines) == ("failed", error, error_lines)
    assert run.latency is None


def test_failed_invoke_keeps_the_warm_up_figures_it_printed():
    run = parse(read("tflite_failed_gpu_invoke.log"))
    assert (run.first_inference_ms, run.init_ms, run.model_size_mb) == (412.33, 1893.41, 24.2796)


def test_warning_about_model_file_size_does_not_fail_the_run():
    text = read("tflite_nnapi_partial_logcat.log") + "WARNING: Failed to get the input model file size.\n"
    assert parse(text).status == "done"


def test_all_same_run_statistics_give_equal_mean_min_and_max():
    run = parse("count=10 curr=2500(all same)\ncount=50 curr=2000(all same)\n")
    assert (run.latency.count, run.latency.mean_ms, run.latency.min_ms, run.latency.max_ms, run.latency.std_ms) == (
        50,
        2.0,
        2.0,
        2.0,
        0.0,
    )
    assert (run.warmup_avg_ms, run.first_inference_ms) == (2.5, 2.5)


def test_log_cut_after_the_warm_up_phase_is_rejected_as_missing_latency():
    text = read("tflite_gpu_complete_peak_monitoring.log")
    cut = text[: text.index("Running benchmark for at least 50")]
    with pytest.raises(ArtifactError) as excinfo:
        parse(cut)
    assert excinfo.value.field == "latency" and "count=" in str(excinfo.value)


@pytest.mark.parametrize(
    ("needle", "replacement"),
    [
        ("avg=120117 std=1877", "avg=nan std=1877"),
        ("min=115211", "min=-115211"),
        (
            "count=50 first=120354 curr=119102 min=115211 max=125903 avg=120117 std=1877",
            "count=50 first=120354 curr=11",
        ),
        ("Inference (avg): 120117", "Inference (avg): fast"),
        ("overall=134.563", "overall=abc"),
    ],
)
def test_malformed_figure_is_rejected_naming_its_line(needle, replacement):
    text = read("tflite_gpu_complete_peak_monitoring.log")
    broken = text.replace(needle, replacement)
    with pytest.raises(ArtifactError) as excinfo:
        parse(broken)
    assert excinfo.value.line == line_number(broken, replacement)
    assert f"line {excinfo.value.line}" in str(excinfo.value)


def test_op_profile_row_with_a_missing_column_is_rejected_naming_its_line():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    row = next(line for line in text.splitlines() if line.endswith("\tDelegate/Sigmoid (NC, F32):4"))
    broken = text.replace(row, row.replace("\t  0.576%", "", 1), 1)
    with pytest.raises(ArtifactError) as excinfo:
        parse(broken)
    assert excinfo.value.line == line_number(text, "\tDelegate/Sigmoid (NC, F32):4")


def test_garbled_log_without_figures_names_what_is_missing():
    with pytest.raises(ArtifactError) as excinfo:
        parse("INFO: STARTING!\nINFO: Loaded model m.tflite\n\x1b[0m garbage \n")
    assert excinfo.value.line is None and "Inference timings" in str(excinfo.value)


def test_log_holding_two_benchmarks_is_rejected_at_the_third_statistics_line():
    text = read("tflite_gpu_complete_peak_monitoring.log")
    doubled = text + text
    third = [number for number, line in enumerate(doubled.splitlines(), start=1) if line.startswith("count=")][2]
    with pytest.raises(ArtifactError) as excinfo:
        parse(doubled)
    assert excinfo.value.line == third


def test_parse_artifact_dispatches_tflite_and_rejects_non_utf8_bytes():
    data = (FIXTURES / "tflite_yolov5s_fp32_cpu.log").read_bytes()
    assert parse_artifact(source_format="tflite_benchmark_model", data=data).latency.count == 50
    with pytest.raises(ArtifactError) as excinfo:
        parse_artifact(source_format="tflite_benchmark_model", data=b"count=50 \xff\xfe")
    assert "UTF-8" in str(excinfo.value)


def test_parse_artifact_rejects_an_unknown_format():
    with pytest.raises(ArtifactError) as excinfo:
        parse_artifact(source_format="coreml_report", data=b"{}")
    assert excinfo.value.field == "format"


def test_tables_pasted_with_spaces_instead_of_tabs_read_the_same():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    assert parse(text.replace("\t", "    ")).ops == parse(text).ops


def test_tables_end_at_the_lines_that_follow_them_when_blank_lines_were_dropped():
    text = read("tflite_ssd_mobilenet_v2_xnnpack_op_profiling.log")
    squeezed = "\n".join(line for line in text.splitlines() if line.strip())
    run = parse(squeezed)
    assert run.ops == parse(text).ops and run.profiled_runs == 64


CSV_PROFILE = """\
Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
TfLiteGpuDelegateV2, 4.1, 3.9, 79.5918%, 79.5918%, 0, 1, [StatefulPartitionedCall:0]:14
TFLite_Detection_PostProcess, 1.02, 1, 20.4082%, 100%, 0, 1, [boxes, scores, classes, count]:15
Timings (microseconds): count=20 first=5210 curr=4890 min=4811 max=5210 avg=4902.2 std=88
"""


def test_csv_profile_from_profiling_output_csv_file_is_read():
    run = parse(CSV_PROFILE)
    assert [(op.op_type, op.avg_ms, op.delegate) for op in run.ops] == [
        ("TfLiteGpuDelegateV2", 3.9, "TfLiteGpuDelegateV2"),
        ("TFLite_Detection_PostProcess", 1.0, "cpu"),
    ]
    assert run.ops[1].name == "[boxes, scores, classes, count]:15"
    assert run.accelerated_fraction == pytest.approx(3.9 / 4.9)
    assert (run.latency.count, run.latency.mean_ms) == (20, pytest.approx(4.9022))


def test_flex_delegate_nodes_run_tensorflow_kernels_on_the_cpu():
    run = parse(CSV_PROFILE.replace("TfLiteGpuDelegateV2", "TfLiteFlexDelegate"))
    assert run.accelerated_fraction == 0.0
    assert {op.delegate for op in run.ops} == {"cpu"}
