"""Wordings and layouts the real corpus does not hold, written from the tools' printing code (named per test)."""

import pytest

from benchmarks.importers.base import ArtifactError
from benchmarks.importers.detect import detect_format
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.importers.executorch_runner import parse as parse_executorch
from benchmarks.importers.onnxruntime_perf_test import parse as parse_perf_test
from benchmarks.importers.openvino_benchmark_app import parse as parse_openvino
from benchmarks.importers.tflite_benchmark_model import parse as parse_tflite
from benchmarks.importers.trtexec_log import parse as parse_trtexec


def test_litert_stats_lines_with_percentiles_after_std_fill_p50_and_p95():
    # xla/tsl/util/stats_calculator.h PercentileStat::OutputToStream appends " p5=.. median=.. p95=.."
    log = (
        "Running benchmark for at least 1 iterations and at least 0.5 seconds\n"
        "count=12 first=51234 curr=40001 min=39872 max=51234 avg=41234.5 std=3120 p5=39900 median=40120 p95=51234\n"
        "Running benchmark for at least 50 iterations and at least 1 seconds\n"
        "count=50 first=40210 curr=40010 min=39800 max=44100 avg=40555.2 std=610 p5=39850 median=40400 p95=41900\n"
    )
    latency = parse_tflite(log).latency
    assert (latency.count, latency.mean_ms, latency.p50_ms, latency.p95_ms) == (50, 40.5552, 40.4, 41.9)


def test_all_same_stats_line_with_percentiles_is_read():
    latency = parse_tflite("count=50 curr=2000(all same) p5=2000 median=2000 p95=2000\n").latency
    assert (latency.count, latency.mean_ms, latency.p50_ms, latency.p95_ms) == (50, 2.0, 2.0, 2.0)


def test_perf_test_average_time_cost_total_wording():
    # onnxruntime/test/perftest/performance_runner.cc after microsoft/onnxruntime#26313
    out = (
        "Session creation time cost: 0.0412 s\nFirst inference time cost: 9 ms\nTotal inference time cost: 2.7 s\n"
        "Total inference requests: 100\nAverage inference time cost total: 27.05 ms\n"
        "Average inference time cost submission: 26.90 ms\nTotal inference run time: 2.71 s\n"
        "Number of inferences per second: 36.9\nP50 Latency: 0.027 s\nP95 Latency: 0.0291 s\n"
    )
    result = parse_perf_test(out)
    assert result.latency.mean_ms == 27.05 and result.latency.count == 100
    assert result.latency.p95_ms == pytest.approx(29.1) and result.throughput_per_s == 36.9
    assert detect_format(out).source_format == "onnxruntime_perf_test"


def test_perf_test_missing_test_data_is_a_failed_run():
    # performance_runner.cc Initialize(): "there is no test data for model ..."
    result = parse_perf_test("there is no test data for model squeezenet\n")
    assert result.status == "failed" and "no test data" in result.error


def test_openvino_counters_csv_average_report():
    # samples/cpp/benchmark_app/statistics_report.cpp dump_performance_counters_request
    csv = (
        "layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms);\n"
        "conv1;EXECUTED;Convolution;jit_avx512_FP32;1.250000;1.200000;\n"
        "relu1;OPTIMIZED_OUT;ReLU;undef;0.000000;0.000000;\n"
        "fc;EXECUTED;FullyConnected;brgemm_avx512_FP32;0.750000;0.700000;\n"
        "Total;;;;2.000000;1.900000;\n"
    )
    assert detect_format(csv).source_format == "openvino_benchmark_app"
    result = parse_openvino(csv)
    assert [(op.name, op.op_type, op.avg_ms, op.share) for op in result.ops] == [
        ("conv1", "Convolution", 1.25, 0.625),
        ("fc", "FullyConnected", 0.75, 0.375),
    ]
    assert result.accelerated_fraction is None and result.accelerated_from_ops is False


def test_openvino_detailed_counters_are_averaged_over_requests():
    header = "layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms);\n"
    csv = (
        header
        + "conv1;EXECUTED;Convolution;jit;1.0;1.0;\nTotal;;;;1.0;1.0;\n\n"
        + header
        + "conv1;EXECUTED;Convolution;jit;3.0;3.0;\nTotal;;;;3.0;3.0;\n\n"
    )
    result = parse_openvino(csv)
    assert [(op.name, op.avg_ms) for op in result.ops] == [("conv1", 2.0)]
    assert result.environment["report"] == "detailed_counters"


def test_openvino_2020_single_latency_line_is_the_median_and_2022_caps_are_read():
    # 2020.x benchmark main.py: "Latency: X ms"; 2022.1 main.cpp: "AVG:", "MIN:", "MAX:"
    old = "[Step 11/11] Dumping statistics report\nCount:      156 iterations\nDuration:   62618.97 ms\n"
    old += "Latency:    1587.50 ms\nThroughput: 2.49 FPS\n"
    assert detect_format(old.split("\n", 1)[1]).source_format == "openvino_benchmark_app"  # the summary alone
    result = parse_openvino(old)
    assert (result.latency.count, result.latency.p50_ms, result.latency.mean_ms) == (156, 1587.5, None)
    new = "[ INFO ] Latency:\n[ INFO ]     Median:     10.45 ms\n[ INFO ]     AVG:        10.62 ms\n"
    new += "[ INFO ]     MIN:        8.79 ms\n[ INFO ]     MAX:        16.95 ms\n[ INFO ] Throughput: 95.23 FPS\n"
    latency = parse_openvino(new).latency
    assert (latency.p50_ms, latency.mean_ms, latency.min_ms, latency.max_ms) == (10.45, 10.62, 8.79, 16.95)


def test_openvino_latency_percentile_option_and_group_latencies():
    # statistics_report.cpp LatencyMetrics::write_to_slog: "N percentile:" with -latency_percentile N
    text = (
        "[Step 11/11] Dumping statistics report\n[ INFO ] Count: 100 iterations\n[ INFO ] Latency:\n"
        "[ INFO ] \t90 percentile:    12.00 ms\n[ INFO ] \tAverage:    10.00 ms\n[ INFO ] \tMin:        8.00 ms\n"
        "[ INFO ] \tMax:        20.00 ms\n[ INFO ] Latency for each data shape group:\n[ INFO ] 1. data: [1,3,224,224]\n"
        "[ INFO ] \tMedian:     99.00 ms\n[ INFO ] Throughput: 100.00 FPS\n"
    )
    latency = parse_openvino(text).latency
    assert (latency.p90_ms, latency.mean_ms, latency.p50_ms) == (12.0, 10.0, None)


def test_openvino_error_is_a_failed_run_with_the_error_lines():
    # main.cpp catch block: slog::err << ex.what()
    text = (
        "[Step 1/11] Parsing and validating input arguments\n[Step 7/11] Loading the model to the device\n"
        '[ ERROR ] Exception from src/inference/src/core.cpp:99:\n[ ERROR ] Device with "NPU" name is not registered\n'
    )
    result = parse_openvino(text)
    assert result.status == "failed"
    assert result.error_lines == [
        "Exception from src/inference/src/core.cpp:99:",
        'Device with "NPU" name is not registered',
    ]


def test_executor_runner_timed_runs_line():
    # examples/portable/executor_runner/executor_runner.cpp (2024+)
    log = (
        "I 00:00:00.010000 executorch:executor_runner.cpp:150] Model file mv2.pte is loaded.\n"
        "I 00:00:00.050000 executorch:executor_runner.cpp:210] Method loaded.\n"
        "I 00:00:00.051000 executorch:executor_runner.cpp:230] Inputs prepared.\n"
        "I 00:00:01.300000 executorch:executor_runner.cpp:280] Model executed successfully 10 time(s) in 1234.5 ms.\n"
    )
    result = parse_executorch(log)
    assert (result.latency.count, result.latency.mean_ms) == (10, 123.45)
    assert (result.model_load_ms, result.init_ms) == (10.0, 50.0)


def test_executorch_failure_is_a_failed_run():
    log = (
        "I 00:00:00.010000 executorch:executor_runner.cpp:150] Model file mv2.pte is loaded.\n"
        "E 00:00:00.020000 executorch:method.cpp:1037] KernelCall failed at instruction 0:0 in operator"
        " aten::embedding.out: 0x12\n"
        "F 00:00:00.020100 executorch:executor_runner.cpp:262] In function main(), assert failed (status == Error::Ok): "
        "Execution of method forward failed with status 0x12\n"
    )
    result = parse_executorch(log)
    assert result.status == "failed" and "KernelCall failed" in result.error
    assert len(result.error_lines) == 2


def test_qnn_runner_per_input_lines_are_samples_when_each_ran_once():
    log = "".join(
        f"I 00:00:0{i}.000000 executorch:qnn_executor_runner.cpp:362] 1 inference took {ms} ms, avg {ms} ms\n"
        for i, ms in enumerate(["2.000000", "4.000000", "3.000000"])
    )
    log += "I 00:00:04.000000 executorch:qnn_executor_runner.cpp:404] 3 inference took 9.000000 ms, avg 3.000000 ms\n"
    latency = parse_executorch(log).latency
    assert (latency.count, latency.mean_ms, latency.min_ms, latency.max_ms, latency.p50_ms) == (3, 3.0, 2.0, 4.0, 3.0)


def test_trtexec_banner_version_numbering_across_generations():
    summary = "[I] Latency: min = 1 ms, max = 3 ms, mean = 2 ms, median = 2 ms, percentile(99%) = 3 ms\n"
    for banner, version in (("v7103", "7.1.3"), ("v8601", "8.6.1"), ("v100200", "10.2.0"), ("v101303", "10.13.3")):
        result = parse_trtexec(f"&&&& RUNNING TensorRT.trtexec [TensorRT {banner}] # trtexec --fp16\n{summary}")
        assert result.runtime_version == version
    failed = parse_trtexec(f"&&&& FAILED TensorRT.trtexec [TensorRT v8601] # trtexec --onnx=m.onnx\n{summary}")
    assert failed.status == "failed" and failed.error_lines[-1].startswith("&&&& FAILED")


def test_trtexec_old_dumpprofile_layout_name_first_with_total_row():
    # sampleReporting.cpp Profiler::print: right-aligned names, "Time (ms)", "Avg. Time (ms)", "Time %", Total row
    log = (
        "[I] === Profile (500 iterations ) ===\n"
        "[I]             Layer   Time (ms)   Avg. Time (ms)   Time %\n"
        "[I]     conv1 + relu1       30.00           0.0600     60.0\n"
        "[I]  pool1 (DLA node)       20.00           0.0400     40.0\n"
        "[I]             Total       50.00           0.1000    100.0\n"
    )
    result = parse_trtexec(log)
    assert [(op.name, op.avg_ms, op.share, op.delegate) for op in result.ops] == [
        ("conv1 + relu1", 0.06, 0.6, "gpu"),
        ("pool1 (DLA node)", 0.04, 0.4, "dla"),
    ]
    assert result.profiled_runs == 500


@pytest.mark.parametrize("name", ["trtexec_log", "openvino_benchmark_app", "executorch_runner"])
def test_new_formats_refuse_text_without_figures(name):
    with pytest.raises(ArtifactError):
        parse_artifact(source_format=name, data="just some words\n")


def test_tflite_log_that_stops_on_an_error_line_is_a_failed_run_not_a_400():
    log = "INFO: STARTING!\nINFO: Graph: [/data/local/tmp/missing.tflite]\n"
    log += "ERROR: Could not open '/data/local/tmp/missing.tflite'.\n"
    result = parse_tflite(log)
    assert result.status == "failed" and result.error == "Could not open '/data/local/tmp/missing.tflite'."


def test_perf_test_that_throws_before_measuring_is_a_failed_run():
    out = (
        "terminate called after throwing an instance of 'Ort::Exception'\n"
        "  what():  Load model from /models/m.onnx failed:Load model /models/m.onnx failed. File doesn't exist\n"
    )
    result = parse_perf_test(out)
    assert result.status == "failed" and "terminate called" in result.error
    assert any("File doesn't exist" in line for line in result.error_lines)
