"""The corpus of real tool outputs (tests/benchmarks/fixtures/README.md names each source): format=auto recognises
each one, and the importer reads the figures the tool printed (copied here from the files by hand)."""

import random
from pathlib import Path

import pytest

from benchmarks.importers.base import FORMATS, ArtifactError
from benchmarks.importers.detect import detect_format
from benchmarks.importers.dispatch import parse_artifact

FIXTURES = Path(__file__).parent / "fixtures"

# file -> (format, tool version or None, {ImportedRun path: value as printed, converted to ms / MB / per s})
CORPUS = {
    # trtexec console logs, TensorRT 8.4 (Jetson Xavier), 8.5 (Orin DLA), 8.x old layout, 10.x; a failure; a profile
    "trtexec_log_trt84_xavier_mnist_batch16.txt": ("trtexec_log", "8.4.0", {
        "status": "done", "throughput_per_s": 41087.7, "latency.mean_ms": 0.402238, "latency.min_ms": 0.387207,
        "latency.max_ms": 0.447357, "latency.p50_ms": 0.401947, "latency.p99_ms": 0.420288, "latency.p95_ms": None,
        "compute_latency.mean_ms": 0.388221, "compute_latency.p99_ms": 0.393188, "wall_time_ms": 3001.19,
        "runtime_version": "8.4.0",
    }),
    "trtexec_log_trt85_orin_dla.txt": ("trtexec_log", None, {
        "throughput_per_s": 0.406047, "latency.mean_ms": 2241.14, "latency.p90_ms": 2241.2, "latency.p95_ms": 2241.41,
        "compute_latency.mean_ms": 2239.16, "compute_latency.p50_ms": 2239.15, "wall_time_ms": 24627.7,
    }),
    "trtexec_log_trt10_ptlflow_rapidflow.txt": ("trtexec_log", None, {
        "throughput_per_s": 32.7261, "latency.mean_ms": 30.7571, "latency.p50_ms": 30.7585, "latency.p90_ms": 30.8303,
        "latency.p95_ms": 30.8396, "latency.p99_ms": 30.8523, "compute_latency.mean_ms": 30.3322,
        "wall_time_ms": 3086.22,
    }),
    "trtexec_log_trt10_issue4177.txt": ("trtexec_log", None, {
        "throughput_per_s": 130.298, "latency.mean_ms": 7.60628, "latency.min_ms": 5.38672, "latency.max_ms": 13.3664,
        "latency.p99_ms": 12.9675, "compute_latency.mean_ms": 7.58404, "compute_latency.max_ms": 13.3388,
        "environment.total_gpu_total_s": "2.96536",
    }),
    "trtexec_log_trt8_old_layout_issue2054.txt": ("trtexec_log", None, {
        "latency.mean_ms": 1.66069, "latency.min_ms": 1.64058, "latency.max_ms": 6.2915, "latency.p50_ms": 1.65601,
        "latency.p99_ms": 1.67065, "throughput_per_s": None, "wall_time_ms": 3004.61,
    }),
    "trtexec_log_failed_hunyuandit.txt": ("trtexec_log", None, {
        "status": "failed", "latency": None,
        "error": 'Cannot find input tensor with name "encoder_hidden_states" in the network inputs! Please make sure'
        " the input tensor names are correct.",
        "error_lines.-1": "Engine set up failed",
    }),
    "trtexec_log_dumpprofile_trt10_issue3842.txt": ("trtexec_log", None, {
        "profiled_runs": 2094, "ops.0.avg_ms": 0.0077, "ops.1.avg_ms": 0.0228, "ops.5.avg_ms": 0.0107,
        "ops.2.name": "node_of_gpu_0/pool1_1", "ops.0.delegate": "gpu",
        "ops.1.share": 47.82 / (16.15 + 47.82 + 14.02 + 14.86 + 39.67 + 22.46),
    }),
    "trtexec_log_failed_plugin_trt86_sd_webui.txt": ("trtexec_log", None, {
        "status": "failed", "latency": None, "error_lines.-1": "Engine set up failed",
        "error_lines.3": "Parsing model failed",
    }),
    "trtexec_log_trt86_issue3083_summary_head.txt": ("trtexec_log", None, {
        "throughput_per_s": 234.19, "latency.mean_ms": 4.29966, "latency.p90_ms": 4.30725, "latency.p99_ms": 4.32874,
    }),
    "trtexec_log_trt7_1080ti_issue1221.txt": ("trtexec_log", None, {
        "latency.mean_ms": 643.169, "latency.min_ms": 638.401, "latency.max_ms": 646.992, "latency.p50_ms": 643.202,
    }),
    "trtexec_log_trt8_jetson_yolov5s_pasted_one_line.txt": ("trtexec_log", None, {
        "throughput_per_s": 169.352, "latency.mean_ms": 5.93288, "latency.max_ms": 6.19507, "latency.p99_ms": 6.17407,
        "compute_latency.mean_ms": 3.63242, "compute_latency.p99_ms": 3.87793,
    }),
    # OpenVINO benchmark_app 2024.0 (AUTO device, docs notebook, indented as pasted), FP32 and INT8
    "openvino_benchmark_app_2024_0_yolov8_obb_fp32_auto_notebook.txt": ("openvino_benchmark_app", "2024.0.0", {
        "model_load_ms": 25.07, "init_ms": 645.51, "first_inference_ms": 362.70, "latency.count": 1620,
        "latency.p50_ms": 884.92, "latency.mean_ms": 897.13, "throughput_per_s": 13.33, "environment.nireq": "12",
    }),
    "openvino_benchmark_app_2024_0_yolov8_obb_int8_auto_notebook.txt": ("openvino_benchmark_app", "2024.0.0", {
        "init_ms": 1201.42, "latency.count": 708, "latency.min_ms": 176.97, "latency.max_ms": 344.41,
        "throughput_per_s": 46.53, "wall_time_ms": 15216.46,
    }),
    # OpenVINO benchmark_app 2024.1 on CPU, GPU and NPU (Meteor Lake)
    "openvino_benchmark_app_2024_1_nanonet_cpu.txt": ("openvino_benchmark_app", "2024.1.0", {
        "model_load_ms": 15.20, "init_ms": 111.41, "first_inference_ms": 14.61, "latency.count": 1668,
        "wall_time_ms": 10042.46, "latency.p50_ms": 20.76, "latency.mean_ms": 23.91, "latency.min_ms": 11.55,
        "latency.max_ms": 90.43, "throughput_per_s": 166.09, "delegates": ["CPU"],
        "environment.performance_hint": "THROUGHPUT", "environment.nireq": "4", "environment.num_streams": "4",
    }),
    "openvino_benchmark_app_2024_1_nanonet_gpu.txt": ("openvino_benchmark_app", "2024.1.0", {
        "init_ms": 8119.39, "first_inference_ms": 7.20, "latency.count": 3576, "latency.p50_ms": 10.73,
        "latency.mean_ms": 11.14, "throughput_per_s": 356.54, "delegates": ["GPU.0"],
    }),
    "openvino_benchmark_app_2024_1_nanonet_npu.txt": ("openvino_benchmark_app", "2024.1.0", {
        "init_ms": 1180.63, "model_load_ms": 14.19, "first_inference_ms": 51.11, "latency.count": 932,
        "latency.p50_ms": 42.83, "latency.mean_ms": 43.03, "latency.max_ms": 74.75, "throughput_per_s": 92.51,
        "delegates": ["NPU.3720"], "runtime_version": "2024.1.0",
    }),
    # onnxruntime_perf_test across wordings (2020 with the TensorRT EP, ARM ACL EP, ARMv8 CPU, the older wording)
    "onnxruntime_perf_test_trt7_resnet50_pr2798.txt": ("onnxruntime_perf_test", None, {
        "init_ms": 1841.49, "latency.count": 1, "latency.mean_ms": 734.606, "wall_time_ms": 734.761,
    }),
    "onnxruntime_perf_test_acl_squeezenet_arm.txt": ("onnxruntime_perf_test", None, {
        "init_ms": 127.918, "latency.count": 10, "latency.mean_ms": 144.871, "cpu_usage_percent": 68,
        "peak_memory_mb": 158171136 / 2**20,
    }),
    "onnxruntime_perf_test_older_issue17313.txt": ("onnxruntime_perf_test", None, {
        "latency.count": 1000, "latency.mean_ms": 58.8053, "latency.min_ms": 55.9777, "latency.p50_ms": 58.7108,
        "latency.p95_ms": 60.5676, "latency.p99_ms": 61.9517, "latency.max_ms": 62.3472,
    }),
    "onnxruntime_perf_test_armv8_squeezenet_issue4331.txt": ("onnxruntime_perf_test", None, {
        "init_ms": 133.189, "latency.count": 7160, "latency.mean_ms": 83.8059, "wall_time_ms": 600102,
    }),
    # ONNX Runtime profile from the DirectML EP: kernel events carry no args
    "onnxruntime_profile_dml_no_args_issue24306.json": ("onnxruntime_profile", None, {
        "latency.count": 1, "latency.mean_ms": 31.038, "ops.6.name": "DmlFusedNode_2_45", "ops.6.avg_ms": 8.298,
        "ops.0.delegate": "unknown", "ops.0.op_type": "", "accelerated_fraction": None, "accelerated_from_ops": False,
    }),
    # LiteRT 2.x benchmark results block (GPU), and a 2019 log whose op table has no heading
    "tflite_litert2_benchmark_results_gpu_llama.log": ("tflite_benchmark_model", None, {
        "init_ms": 23744.73, "first_inference_ms": 7441.04, "warmup_avg_ms": 7441.04, "latency.count": 10,
        "latency.mean_ms": 7430.20, "latency.min_ms": 7416.40, "latency.max_ms": 7448.86, "latency.std_ms": 9.92,
        "init_memory_mb": 6391.74, "peak_memory_mb": 6391.74,
    }),
    "tflite_2020_espcn_cpu_issue42507.log": ("tflite_benchmark_model", None, {
        "init_ms": 0.855, "first_inference_ms": 49.060, "warmup_avg_ms": 34.8251, "latency.count": 50,
        "latency.mean_ms": 33.2094, "latency.std_ms": 0.450, "latency.min_ms": 32.641, "peak_memory_mb": 12.8672,
        "model_size_mb": 0.004448,
    }),
    "tflite_2019_larq_rpi3_op_profiling_no_heading.log": ("tflite_benchmark_model", None, {
        "init_ms": 63.227, "warmup_avg_ms": 420.198, "latency.mean_ms": 422.959, "ops.0.op_type": "Bconv2d64",
        "ops.0.name": "model/tf_op_layer_64-1-1-binary/64-1-1-binary", "ops.0.avg_ms": 1.016, "ops.6.avg_ms": 6.300,
    }),
    # ExecuTorch: the portable executor_runner on x86 (timed by the log), the QNN runner on an SM8650 HTP
    "executorch_runner_resnet18_x86_portable_issue1231.log": ("executorch_runner", None, {
        "model_load_ms": 382.397, "init_ms": 437.272, "latency.count": 1,
        "latency.mean_ms": (2 * 60 + 23.767346 - 0.437405) * 1000,
    }),
    "executorch_qnn_runner_sm8650_htp_denoising_issue5199.log": ("executorch_runner", None, {
        "latency.count": 100, "latency.mean_ms": 2.14295, "delegates": ["QNN"], "status": "done",
    }),
    # logs that were already in the repository (real write-up logs, real ORT profiles)
    "tflite_yolov5s_fp32_cpu.log": ("tflite_benchmark_model", None, {"latency.count": 50, "latency.mean_ms": 249.684}),
    "tflite_yolov5s_fp32_nnapi_qti_gpu.log": ("tflite_benchmark_model", None, {"latency.mean_ms": 156.669}),
    "onnxruntime_profile_smallconv_cpu_2threads.json": ("onnxruntime_profile", None, {"latency.count": 30}),
    "onnxruntime_profile_tinymlp_cpu.json": ("onnxruntime_profile", None, {"status": "done"}),
}  # fmt: skip


def _value(result, path: str):
    value = result
    for part in path.split("."):
        if value is None:
            return None
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            value = value[int(part)]
        else:
            value = getattr(value, part)
    return value


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_auto_recognises_the_tool_and_its_version(name):
    source_format, version, _ = CORPUS[name]
    detection = detect_format((FIXTURES / name).read_bytes())
    assert (detection.source_format, detection.version) == (source_format, version)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_figures_the_tool_printed_are_read(name):
    source_format, _, expected = CORPUS[name]
    result = parse_artifact(source_format="auto", data=(FIXTURES / name).read_bytes())
    assert result.source_format == source_format
    for path, value in expected.items():
        got = _value(result, path)
        if isinstance(value, float) and not isinstance(value, bool):
            assert got == pytest.approx(value, rel=1e-9), path
        else:
            assert got == value, path


def test_the_corpus_holds_at_least_thirty_real_outputs_named_in_the_readme():
    readme = (FIXTURES / "README.md").read_text()
    real = [
        path.name for path in FIXTURES.iterdir() if path.suffix not in (".py", ".md") and f"`{path.name}`" in readme
    ]
    real_section = readme.split("## Real output")[1].split("## Hand-made")[0]
    assert all(f"`{name}`" in real_section for name in CORPUS), "every corpus file is listed as real output"
    assert len([name for name in real if f"`{name}`" in real_section]) >= 30


@pytest.mark.parametrize("name", sorted(path.name for path in FIXTURES.iterdir() if path.suffix not in (".py", ".md")))
def test_truncated_or_damaged_fixtures_are_read_or_refused_never_crash(name):
    """Every cut and a few damaged bytes, in every format: an ImportedRun or an ArtifactError (a 400), nothing else."""
    data = (FIXTURES / name).read_bytes()
    rng = random.Random(name)
    cases = [data[: len(data) * k // 12] for k in range(12)]
    for _ in range(8):
        damaged = bytearray(data)
        damaged[rng.randrange(len(damaged))] = rng.choice(b'0123456789.=:-[]{}",\n xe')
        cases.append(bytes(damaged))
    for case in cases:
        for source_format in ("auto", *FORMATS):
            try:
                parse_artifact(source_format=source_format, data=case)
            except ArtifactError:
                pass
