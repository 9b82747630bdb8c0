"""trtexec --exportTimes / --exportProfile importers: figures computed here from the raw JSON records."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.importers.base import ArtifactError
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.importers.trtexec import parse_profile, parse_times

FIXTURES = Path(__file__).parent / "fixtures"
TIMES = FIXTURES / "trtexec_times_resnet50_fp16.json"
TIMES_TRT7 = FIXTURES / "trtexec_times_trt7_layout.json"
PROFILE = FIXTURES / "trtexec_profile_resnet50_fp16.json"
PROFILE_NO_MEDIAN = FIXTURES / "trtexec_profile_no_median.json"


@pytest.mark.parametrize("path", [TIMES, TIMES_TRT7], ids=lambda path: path.stem)
def test_latency_summary_comes_from_latency_ms_samples(path):
    latencies = [record["latencyMs"] for record in json.loads(path.read_text())]

    latency = parse_times(path.read_bytes()).latency

    assert latency.count == len(latencies)
    assert latency.samples_ms == latencies
    assert latency.mean_ms == pytest.approx(np.mean(latencies))
    assert latency.std_ms == pytest.approx(np.std(latencies))
    assert (latency.min_ms, latency.max_ms) == (min(latencies), max(latencies))
    for percent in (50, 90, 95, 99):
        expected = float(np.percentile(latencies, percent, method="inverted_cdf"))  # nearest rank
        assert getattr(latency, f"p{percent}_ms") == pytest.approx(expected)


def test_compute_latency_comes_from_compute_ms():
    computes = [record["computeMs"] for record in json.loads(TIMES.read_text())]
    compute = parse_times(TIMES.read_bytes()).compute_latency
    assert compute.count == len(computes)
    assert compute.mean_ms == pytest.approx(np.mean(computes))
    assert compute.p99_ms == pytest.approx(float(np.percentile(computes, 99, method="inverted_cdf")))


@pytest.mark.parametrize(
    ("path", "start", "end"), [(TIMES, "startH2dMs", "endD2hMs"), (TIMES_TRT7, "startInMs", "endOutMs")]
)
def test_throughput_is_records_over_the_host_walltime_span(path, start, end):
    records = json.loads(path.read_text())
    span_ms = max(record[end] for record in records) - min(record[start] for record in records)

    run = parse_times(path.read_bytes())

    assert run.wall_time_ms == pytest.approx(span_ms)
    assert run.throughput_per_s == pytest.approx(len(records) / span_ms * 1000)
    assert run.status == "done" and run.init_ms is None and run.first_inference_ms is None


def test_times_without_stage_timestamps_have_no_throughput():
    records = [{"latencyMs": 1.5}, {"latencyMs": 1.7, "computeMs": 1.2}]
    run = parse_times(json.dumps(records))
    assert (run.throughput_per_s, run.wall_time_ms, run.compute_latency) == (None, None, None)
    assert run.latency.mean_ms == pytest.approx(1.6)


def test_profile_layers_become_gpu_ops_with_averages_and_time_shares():
    document = json.loads(PROFILE.read_text())
    layers = document[1:]
    total = sum(layer["timeMs"] for layer in layers)

    run = parse_profile(PROFILE.read_bytes())

    assert [op.name for op in run.ops] == [layer["name"] for layer in layers]
    assert [op.avg_ms for op in run.ops] == [layer["averageMs"] for layer in layers]
    assert [op.share for op in run.ops] == pytest.approx([layer["timeMs"] / total for layer in layers])
    assert [op.share for op in run.ops] == pytest.approx([layer["percentage"] / 100 for layer in layers], abs=1e-5)
    assert all(op.accelerated and op.delegate == "gpu" for op in run.ops)
    assert (run.accelerated_fraction, run.delegate_summary) == (1.0, pytest.approx({"gpu": 1.0}))
    assert run.profiled_runs == document[0]["count"]
    assert run.latency is None  # the layer profile holds no end-to-end latency


def test_profile_from_a_version_without_median_is_read():
    layers = json.loads(PROFILE_NO_MEDIAN.read_text())[1:]
    run = parse_profile(PROFILE_NO_MEDIAN.read_bytes())
    assert [op.avg_ms for op in run.ops] == [layer["averageMs"] for layer in layers]
    assert run.profiled_runs == 100


def test_unknown_fields_are_ignored():
    records = json.loads(TIMES.read_text())
    for record in records:
        record["gpuClockMHz"] = 1410
        record["endToEndMs"] = record["latencyMs"] * 2
    assert parse_times(json.dumps(records)) == parse_times(TIMES.read_bytes())


def test_parse_artifact_dispatches_both_trtexec_formats():
    assert parse_artifact(source_format="trtexec_times", data=TIMES.read_bytes()).source_format == "trtexec_times"
    profile = parse_artifact(source_format="trtexec_profile", data=PROFILE.read_bytes())
    assert profile.source_format == "trtexec_profile"


def test_export_with_a_non_json_number_is_rejected_naming_the_line():
    # trtexec streams floats, so an empty layer prints "-nan", which is not JSON.
    text = PROFILE.read_text().splitlines()
    text[4] = text[4].replace('"percentage" : 2.4488', '"percentage" : -nan')
    with pytest.raises(ArtifactError) as excinfo:
        parse_profile("\n".join(text))
    assert excinfo.value.line == 5


@pytest.mark.parametrize("document", ['{"latencyMs": 1.0}', "[]", '"times"'])
def test_times_with_the_wrong_top_level_shape_are_rejected(document):
    with pytest.raises(ArtifactError) as excinfo:
        parse_times(document)
    assert excinfo.value.field == "$"


def changed_times(index: int, change) -> str:
    records = json.loads(TIMES.read_text())
    change(records[index])
    return json.dumps(records)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda record: record.pop("latencyMs"), "[2].latencyMs"),
        (lambda record: record.update(latencyMs=-0.4), "[2].latencyMs"),
        (lambda record: record.update(latencyMs="1.7"), "[2].latencyMs"),
        (lambda record: record.update(latencyMs=float("nan")), "[2].latencyMs"),
        (lambda record: record.update(computeMs=None), "[2].computeMs"),
        (lambda record: record.update(endD2hMs=float("inf")), "[2].endD2hMs"),
    ],
)
def test_invalid_times_record_is_rejected_naming_the_field(change, field):
    with pytest.raises(ArtifactError) as excinfo:
        parse_times(changed_times(2, change))
    assert excinfo.value.field == field
    assert repr(field) in str(excinfo.value)


def test_times_record_that_is_not_an_object_is_rejected():
    records = json.loads(TIMES.read_text())
    records[3] = [1.0, 2.0]
    with pytest.raises(ArtifactError) as excinfo:
        parse_times(json.dumps(records))
    assert excinfo.value.field == "[3]"


def changed_profile(index: int, change) -> str:
    document = json.loads(PROFILE.read_text())
    change(document[index])
    return json.dumps(document)


@pytest.mark.parametrize(
    ("index", "change", "field"),
    [
        (0, lambda head: head.pop("count"), "[0].count"),
        (0, lambda head: head.update(count=2.5), "[0].count"),
        (3, lambda layer: layer.pop("name"), "[3].name"),
        (3, lambda layer: layer.update(timeMs=-1), "[3].timeMs"),
        (3, lambda layer: layer.update(averageMs="0.1"), "[3].averageMs"),
        (3, lambda layer: layer.pop("averageMs"), "[3].averageMs"),
    ],
)
def test_invalid_profile_entry_is_rejected_naming_the_field(index, change, field):
    with pytest.raises(ArtifactError) as excinfo:
        parse_profile(changed_profile(index, change))
    assert excinfo.value.field == field


def test_profile_without_layers_is_rejected():
    with pytest.raises(ArtifactError) as excinfo:
        parse_profile('[{"count": 10}]')
    assert excinfo.value.field == "[1]"
