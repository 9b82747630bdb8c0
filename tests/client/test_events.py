import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edgeportal_client.events import MAX_RAW_SAMPLES, Uuid7Generator, crash_event, session_event, uuid7
from edgeportal_client.histogram import LatencyHistogram

# The two events of API.md's example body, verbatim: the builders must produce exactly these keys.
API_MD_SESSION = {
    "type": "session", "event_id": "6f1c0f3e-...", "session_id": "b2d1...",
    "started_at": "2026-11-20T10:00:00Z", "duration_s": 840.5,
    "model": "yolov8n", "model_version": "1.4.0",
    "runtime": "tflite", "runtime_version": "2.16.1", "delegate": "gpu",
    "inferences": 1200, "errors": 1,
    "latency_ms": [12.1, 11.8, 30.2],
    "latency_histogram": {"gamma": 1.0202020202020203, "counts": {"126": 880, "127": 300, "170": 20}},
    "accelerated_fraction": 0.97, "fallback_ops": ["RESIZE_BILINEAR"],
    "peak_rss_mb": 212.5, "thermal_state": "nominal",
}  # fmt: skip
API_MD_CRASH = {
    "type": "crash", "event_id": "0d9e...", "session_id": "b2d1...",
    "occurred_at": "2026-11-20T10:14:01Z",
    "model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite",
    "runtime_version": "2.16.1", "delegate": "gpu",
    "kind": "native", "signal": "SIGSEGV", "exception_type": None,
    "message": "Fatal signal 11 in gpu delegate",
    "frames": [{"function": "tflite::gpu::cl::InferenceContext::Run",
                "module": "libtensorflowlite_gpu_delegate.so", "offset": "0x1a2b40", "in_app": False}],
}  # fmt: skip

IDENTITY = {
    "model": "yolov8n",
    "model_version": "1.4.0",
    "runtime": "tflite",
    "runtime_version": "2.16.1",
    "delegate": "gpu",
    "session_id": "b2d1",
}


def make_session(**overrides):
    arguments = {
        **IDENTITY,
        "started_at": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "duration_s": 840.5,
        "inferences": 3,
        "errors": 1,
        "latencies_ms": [12.1, 11.8, 30.2],
        "include_raw_samples": True,
        "accelerated_fraction": 0.97,
        "fallback_ops": ["RESIZE_BILINEAR"],
        "peak_rss_mb": 212.5,
        "thermal_state": "nominal",
    }
    arguments.update(overrides)
    return session_event(**arguments)


def shape(value):
    """Keys and JSON types, recursively; lists by the shape of their first item."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items() if key != "counts"}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def test_session_event_has_exactly_the_api_md_keys_and_types():
    event = json.loads(json.dumps(make_session()))
    assert list(event) == list(API_MD_SESSION)
    assert shape(event) == shape(API_MD_SESSION)
    assert event["started_at"] == "2026-11-20T10:00:00.000Z"
    assert event["latency_ms"] == [12.1, 11.8, 30.2]


def test_crash_event_has_exactly_the_api_md_keys_and_types():
    event = crash_event(
        **IDENTITY,
        occurred_at="2026-11-20T11:14:01+01:00",
        kind="native",
        signal="SIGSEGV",
        message="Fatal signal 11 in gpu delegate",
        frames=[
            {
                "function": "tflite::gpu::cl::InferenceContext::Run",
                "module": "libtensorflowlite_gpu_delegate.so",
                "offset": 0x1A2B40,
                "in_app": False,
            }
        ],
    )
    event = json.loads(json.dumps(event))
    assert list(event) == list(API_MD_CRASH)
    assert shape(event) == shape({**API_MD_CRASH, "exception_type": None})
    assert event["exception_type"] is None
    assert event["occurred_at"] == "2026-11-20T10:14:01.000Z"
    assert event["frames"][0]["offset"] == "0x1a2b40"


def test_event_id_is_a_uuid7_fixed_when_the_event_is_built():
    event = make_session()
    assert uuid.UUID(event["event_id"]).version == 7
    assert json.loads(json.dumps(event))["event_id"] == event["event_id"]
    assert make_session()["event_id"] != event["event_id"]


def test_histogram_is_always_sent_and_holds_every_sample_when_raw_samples_are_off():
    event = make_session(include_raw_samples=False)
    assert "latency_ms" not in event
    assert LatencyHistogram.from_wire(event["latency_histogram"]).count == 3


def test_raw_samples_are_capped_at_10000_and_the_rest_go_to_the_histogram_only():
    samples = [float(i % 50 + 1) for i in range(MAX_RAW_SAMPLES + 2_500)]
    event = make_session(latencies_ms=samples)
    assert event["latency_ms"] == samples[:MAX_RAW_SAMPLES]
    histogram = LatencyHistogram.from_wire(event["latency_histogram"])
    # raw + histogram partition the samples, so the server's merge counts each exactly once
    assert histogram == LatencyHistogram.from_samples(samples[MAX_RAW_SAMPLES:])
    assert len(event["latency_ms"]) + histogram.count == len(samples)


def test_a_pre_aggregated_histogram_is_merged_with_raw_samples():
    aggregated = LatencyHistogram.from_samples([5.0, 0.0])
    event = make_session(latencies_ms=[12.0], include_raw_samples=False, histogram=aggregated)
    assert LatencyHistogram.from_wire(event["latency_histogram"]) == LatencyHistogram.from_samples([5.0, 0.0, 12.0])


def test_session_without_latencies_sends_an_empty_histogram_and_nulls_for_unknowns():
    event = session_event(**IDENTITY, started_at="2026-11-20T10:00:00Z", duration_s=1, inferences=0, errors=0)
    assert event["latency_histogram"]["counts"] == {}
    assert event["accelerated_fraction"] is None
    assert event["peak_rss_mb"] is None
    assert event["thermal_state"] is None
    assert event["fallback_ops"] == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"model": ""},
        {"started_at": datetime(2026, 11, 20, 10, 0)},  # naive: ambiguous on a device in another zone
        {"started_at": "yesterday"},
        {"duration_s": -1},
        {"inferences": 1.5},
        {"errors": -1},
        {"accelerated_fraction": 1.2},
        {"latencies_ms": [1.0, float("nan")]},
        {"latencies_ms": [-3.0]},
    ],
)
def test_session_event_rejects_invalid_fields(overrides):
    with pytest.raises(ValueError):
        make_session(**overrides)


def test_crash_event_rejects_unknown_kind_and_frame_fields():
    common = {**IDENTITY, "occurred_at": datetime.now(UTC)}
    with pytest.raises(ValueError, match="kind"):
        crash_event(**common, kind="panic")
    with pytest.raises(ValueError, match="outside the contract"):
        crash_event(**common, kind="exception", frames=[{"function": "f", "lineno": 3}])


def test_timestamps_are_converted_to_utc():
    event = make_session(started_at=datetime(2026, 11, 20, 12, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=2))))
    assert event["started_at"] == "2026-11-20T10:30:15.250Z"


def test_uuid7_has_version_7_and_rfc_variant_and_the_current_millisecond():
    before_ms = time.time_ns() // 1_000_000
    value = uuid7()
    after_ms = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before_ms <= value.int >> 80 <= after_ms


def test_uuid7_is_strictly_increasing_within_one_millisecond():
    ids = [uuid7() for _ in range(20_000)]
    assert all(a.int < b.int for a, b in zip(ids, ids[1:], strict=False))
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)  # text order = time order (file names)


def test_uuid7_stays_increasing_when_the_wall_clock_steps_back():
    readings = iter([5_000_000_000, 5_000_000_000, 4_000_000_000, 6_000_000_000])
    generate = Uuid7Generator(clock_ns=lambda: next(readings))
    ids = [generate() for _ in range(4)]
    assert all(a.int < b.int for a, b in zip(ids, ids[1:], strict=False))
    assert [i.int >> 80 for i in ids] == [5_000, 5_000, 5_000, 6_000]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
