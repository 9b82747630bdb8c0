"""ONNX Runtime profile importer: every figure is checked against numbers computed here from the raw JSON."""

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from benchmarks.importers.base import ArtifactError
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.importers.onnxruntime_profile import parse

FIXTURES = Path(__file__).parent / "fixtures"
REAL_PROFILES = [
    FIXTURES / "onnxruntime_profile_tinymlp_cpu.json",  # ORT 1.31.1, 20 runs, 1 thread
    FIXTURES / "onnxruntime_profile_smallconv_cpu_2threads.json",  # ORT 1.31.1, 30 runs, 2 threads
]


def model_runs(events: list[dict]) -> list[dict]:
    return sorted((event for event in events if event["name"] == "model_run"), key=lambda event: event["ts"])


@pytest.fixture(params=REAL_PROFILES, ids=lambda path: path.stem)
def profile(request) -> tuple[bytes, list[dict]]:
    data = request.param.read_bytes()
    return data, json.loads(data)


def test_latency_summary_matches_the_model_run_events(profile):
    data, events = profile
    durations_ms = [event["dur"] / 1000 for event in model_runs(events)]

    latency = parse(data).latency

    assert latency.count == len(durations_ms)
    assert latency.mean_ms == pytest.approx(sum(durations_ms) / len(durations_ms))
    assert latency.std_ms == pytest.approx(float(np.std(durations_ms)))
    assert (latency.min_ms, latency.max_ms) == (min(durations_ms), max(durations_ms))
    assert latency.samples_ms == durations_ms


@pytest.mark.parametrize("percent", [50, 90, 95, 99])
def test_percentiles_are_nearest_rank_over_the_model_runs(profile, percent):
    data, events = profile
    durations_ms = [event["dur"] / 1000 for event in model_runs(events)]
    # numpy's inverted_cdf is the nearest-rank definition: the smallest sample whose CDF reaches p.
    expected = float(np.percentile(durations_ms, percent, method="inverted_cdf"))
    assert getattr(parse(data).latency, f"p{percent}_ms") == pytest.approx(expected)


def test_session_figures_come_from_their_session_events(profile):
    data, events = profile
    by_name = {event["name"]: event for event in events if event["cat"] == "Session"}
    runs = model_runs(events)
    span_us = runs[-1]["ts"] + runs[-1]["dur"] - runs[0]["ts"]

    run = parse(data)

    assert run.status == "done"
    assert run.init_ms == by_name["session_initialization"]["dur"] / 1000
    assert run.model_load_ms == by_name["model_loading_uri"]["dur"] / 1000
    assert run.first_inference_ms == runs[0]["dur"] / 1000
    assert run.throughput_per_s == pytest.approx(len(runs) / span_us * 1e6)
    assert run.wall_time_ms == pytest.approx(span_us / 1000)


def test_ops_are_kernel_times_per_node_averaged_over_runs(profile):
    data, events = profile
    runs = len(model_runs(events))
    per_node, calls = defaultdict(float), defaultdict(int)
    for event in events:
        if event["cat"] == "Node" and event["name"].endswith("_kernel_time"):
            per_node[event["name"][: -len("_kernel_time")]] += event["dur"]
            calls[event["name"][: -len("_kernel_time")]] += 1
    total = sum(per_node.values())

    run = parse(data)

    assert {op.name: op.avg_ms for op in run.ops} == pytest.approx(
        {node: time / runs / 1000 for node, time in per_node.items()}
    )
    assert {op.name: op.share for op in run.ops} == pytest.approx({node: t / total for node, t in per_node.items()})
    assert {op.name: op.calls for op in run.ops} == {node: count / runs for node, count in calls.items()}
    assert math.isclose(sum(op.share for op in run.ops), 1.0)
    assert run.profiled_runs == runs


def test_cpu_only_profile_is_not_accelerated(profile):
    data, events = profile
    providers = {event["args"]["provider"] for event in events if event["cat"] == "Node"}

    run = parse(data)

    assert providers == {"CPUExecutionProvider"}
    assert run.accelerated_fraction == 0.0
    assert run.delegates == ["CPUExecutionProvider"]
    assert run.delegate_summary == pytest.approx({"CPUExecutionProvider": 1.0})
    assert {op.delegate for op in run.ops} == {"CPUExecutionProvider"} and not any(op.accelerated for op in run.ops)


def test_op_types_come_from_op_name():
    events = json.loads((FIXTURES / "onnxruntime_profile_tinymlp_cpu.json").read_text())
    expected = {
        event["name"][: -len("_kernel_time")]: event["args"]["op_name"] for event in events if event["cat"] == "Node"
    }
    run = parse(json.dumps(events))
    assert {op.name: op.op_type for op in run.ops} == expected


def gpu_events() -> list[dict]:
    """A small hand-made trace: two runs, a Conv on CUDA and a TopK that fell back to the CPU provider."""
    events = [
        {"cat": "Session", "name": "session_initialization", "ts": 0, "dur": 90000, "ph": "X", "args": {}},
    ]
    for run, start in enumerate((100000, 101000)):
        events.append({"cat": "Session", "name": "model_run", "ts": start, "dur": 900 - run * 100, "ph": "X"})
        events.append(
            {
                "cat": "Node",
                "name": "conv_kernel_time",
                "ts": start + 10,
                "dur": 600,
                "ph": "X",
                "args": {"op_name": "Conv", "provider": "CUDAExecutionProvider"},
            }
        )
        events.append(
            {
                "cat": "Node",
                "name": "topk_kernel_time",
                "ts": start + 700,
                "dur": 150,
                "ph": "X",
                "args": {"op_name": "TopK", "provider": "CPUExecutionProvider"},
            }
        )
    return events


def test_kernel_time_on_a_non_cpu_provider_counts_as_accelerated():
    run = parse(json.dumps(gpu_events()))
    assert run.accelerated_fraction == pytest.approx(1200 / 1500)
    assert run.delegate_summary == pytest.approx({"CUDAExecutionProvider": 0.8, "CPUExecutionProvider": 0.2})
    assert {op.name: (op.delegate, op.accelerated) for op in run.ops} == {
        "conv": ("CUDAExecutionProvider", True),
        "topk": ("CPUExecutionProvider", False),
    }
    assert run.delegates == ["CPUExecutionProvider", "CUDAExecutionProvider"]
    assert run.model_load_ms is None


def test_trace_events_object_form_reads_the_same_as_the_array():
    data = (FIXTURES / "onnxruntime_profile_tinymlp_cpu.json").read_bytes()
    wrapped = json.dumps({"traceEvents": json.loads(data), "displayTimeUnit": "ms"})
    assert parse(wrapped) == parse(data)


def test_unknown_events_and_fields_are_ignored():
    events = gpu_events()
    events.insert(1, {"ph": "M", "name": "process_name", "args": {"name": "onnxruntime"}})
    events.insert(2, {"cat": "Api", "name": "OrtRun", "dur": "not a number"})
    events[3]["extra"] = {"nested": [1, 2]}
    assert parse(json.dumps(events)) == parse(json.dumps(gpu_events()))


def test_parse_artifact_dispatches_the_onnxruntime_profile_format():
    data = REAL_PROFILES[0].read_bytes()
    assert parse_artifact(source_format="onnxruntime_profile", data=data) == parse(data)


def test_text_that_is_not_json_is_rejected_naming_the_line():
    text = (FIXTURES / "onnxruntime_profile_tinymlp_cpu.json").read_text()
    lines = text.splitlines()
    lines[5] = "{oops},"
    with pytest.raises(ArtifactError) as excinfo:
        parse("\n".join(lines))
    assert excinfo.value.line == 6 and str(excinfo.value).startswith("line 6: not valid JSON")


@pytest.mark.parametrize("document", ['{"events": []}', '"model_run"', "42"])
def test_wrong_top_level_type_is_rejected(document):
    with pytest.raises(ArtifactError) as excinfo:
        parse(document)
    assert excinfo.value.field == "$"


def broken(index: int, change) -> str:
    events = gpu_events()
    change(events[index])
    return json.dumps(events)


@pytest.mark.parametrize(
    ("index", "change", "field"),
    [
        (1, lambda event: event.pop("dur"), "[1].dur"),
        (1, lambda event: event.update(dur=-5), "[1].dur"),
        (1, lambda event: event.update(dur="900"), "[1].dur"),
        (1, lambda event: event.update(dur=float("nan")), "[1].dur"),
        (1, lambda event: event.update(ts=None), "[1].ts"),
        (1, lambda event: event.update(ts=float("nan")), "[1].ts"),
        (2, lambda event: event["args"].update(op_name=7), "[2].args.op_name"),
        (2, lambda event: event.update(args=[]), "[2].args"),
        (2, lambda event: event.update(dur=float("inf")), "[2].dur"),
        (0, lambda event: event.update(dur=True), "[0].dur"),
    ],
)
def test_missing_or_invalid_field_is_rejected_naming_it(index, change, field):
    with pytest.raises(ArtifactError) as excinfo:
        parse(broken(index, change))
    assert excinfo.value.field == field
    assert repr(field) in str(excinfo.value)


def test_event_that_is_not_an_object_is_rejected_naming_its_index():
    events = gpu_events()
    events[3] = ["model_run", 5]
    with pytest.raises(ArtifactError) as excinfo:
        parse(json.dumps(events))
    assert excinfo.value.field == "[3]"


def test_profile_without_any_run_is_rejected():
    events = [event for event in gpu_events() if event["name"] != "model_run"]
    with pytest.raises(ArtifactError) as excinfo:
        parse(json.dumps(events))
    assert excinfo.value.field == "model_run"
