import gzip
import json
import random
import socket
from datetime import UTC, datetime, timedelta

import pytest

from edgeportal_client.client import EdgePortalClient
from edgeportal_client.events import crash_event, session_event
from tests.client.fake_ingest import DROP, STALL, STORE_THEN_DROP, running_fake_ingest

DEVICE = {
    "uid": "pixel8-000042",
    "model": "google-pixel-8",
    "os_version": "Android 15",
    "app_version": "3.2.1",
    "firmware": "AP4A.250105.002",
}
START = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


class MaxJitter(random.Random):
    """Always draws the top of the jitter range, so the exponential ceiling itself is observable."""

    def random(self) -> float:
        return 1.0


class SteppingClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def ingest_server():
    with running_fake_ingest() as fake:
        yield fake


@pytest.fixture
def sleeps():
    return []


def make_client(url, sleeps, **options):
    defaults = {"sleep": sleeps.append, "rng": MaxJitter(), "clock": SteppingClock()}
    return EdgePortalClient(url, "ep_test_key", DEVICE, **{**defaults, **options})


def make_events(count):
    return [
        session_event(
            model="yolov8n",
            model_version="1.4.0",
            runtime="tflite",
            runtime_version="2.16.1",
            delegate="gpu",
            session_id=f"session-{i}",
            started_at=START,
            duration_s=60.0,
            inferences=3,
            errors=0,
            latencies_ms=[12.1, 11.8, 30.2],
        )
        for i in range(count)
    ]


def record_all(client, events):
    return [client.record(event) for event in events]


def closed_port_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_flush_posts_a_gzip_json_batch_with_bearer_key_device_and_send_time(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps)
    events = make_events(2) + [
        crash_event(
            model="yolov8n",
            model_version="1.4.0",
            runtime="tflite",
            runtime_version="2.16.1",
            delegate="gpu",
            session_id="session-0",
            occurred_at=START,
            kind="oom",
        )
    ]
    record_all(client, events)

    result = client.flush()

    (request,) = ingest_server.received
    assert request.path == "/api/v1/ingest/"
    assert request.raw_body[:2] == b"\x1f\x8b"  # gzip magic: the body on the wire really is gzip
    assert json.loads(gzip.decompress(request.raw_body)) == request.payload
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer ep_test_key"
    assert request.payload["device"] == DEVICE
    assert request.payload["sent_at"] == "2026-11-20T10:15:01.000Z"
    assert request.payload["events"] == events
    assert (result.sent, result.accepted, result.duplicates, result.rejected) == (3, 3, 0, [])
    assert (result.remaining, result.last_error) == (0, None)


def test_events_are_not_sent_again_after_a_successful_flush(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps)
    record_all(client, make_events(3))
    client.flush()

    second = client.flush()

    assert len(ingest_server.received) == 1
    assert second.sent == 0
    assert list(ingest_server.stored.values()) == [1, 1, 1]


def test_recording_the_same_event_twice_sends_it_once(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps)
    (event,) = make_events(1)
    client.record(event)
    client.record(event)

    assert client.flush().sent == 1


def test_503_is_retried_after_retry_after_with_the_same_event_ids_and_a_new_sent_at(ingest_server, sleeps):
    ingest_server.respond((503, {"Retry-After": "7"}, {"error": "database unavailable"}))
    client = make_client(ingest_server.url, sleeps)
    ids = record_all(client, make_events(3))

    result = client.flush()

    first, retry = ingest_server.received
    assert first.event_ids == retry.event_ids == ids
    assert first.payload["events"] == retry.payload["events"]
    assert retry.payload["sent_at"] > first.payload["sent_at"]  # set at send time, not at queue time
    assert sleeps == [7.0]
    assert (result.accepted, result.remaining, result.last_error) == (3, 0, None)


def test_429_retry_after_wins_over_a_shorter_backoff(ingest_server, sleeps):
    ingest_server.respond((429, {"Retry-After": "3"}, None), (429, {"Retry-After": "0"}, None))
    client = make_client(ingest_server.url, sleeps)
    record_all(client, make_events(1))

    result = client.flush()

    # first backoff ceiling is 0.5 s < 3 s asked; second is 1.0 s > 0 s asked
    assert sleeps == [3.0, 1.0]
    assert len(ingest_server.received) == 3
    assert result.accepted == 1


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried(ingest_server, sleeps, status):
    ingest_server.respond((status, {}, None))
    client = make_client(ingest_server.url, sleeps)
    record_all(client, make_events(1))

    assert client.flush().accepted == 1
    assert len(ingest_server.received) == 2


def test_backoff_grows_exponentially_is_capped_and_gives_up_keeping_the_events(ingest_server, sleeps):
    ingest_server.policy = lambda payload: (503, {}, None)
    client = make_client(ingest_server.url, sleeps, max_retries=7, backoff_base=0.5, backoff_cap=10)
    ids = record_all(client, make_events(2))

    result = client.flush()

    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert len(ingest_server.received) == 8
    assert all(request.event_ids == ids for request in ingest_server.received)
    assert result.remaining == 2
    assert "HTTP 503" in result.last_error and "gave up after 8 attempts" in result.last_error


def test_full_jitter_draws_delays_below_the_exponential_ceiling(ingest_server, sleeps):
    ingest_server.policy = lambda payload: (503, {}, None)
    client = make_client(ingest_server.url, sleeps, max_retries=8, backoff_cap=5, rng=random.Random(3))
    record_all(client, make_events(1))

    client.flush()

    ceilings = [min(5, 0.5 * 2**attempt) for attempt in range(8)]
    assert all(0 <= delay <= ceiling for delay, ceiling in zip(sleeps, ceilings, strict=True))
    assert sleeps != ceilings


def test_retry_after_beyond_the_backoff_cap_ends_the_flush_without_waiting(ingest_server, sleeps):
    ingest_server.respond((429, {"Retry-After": "3600"}, None))
    client = make_client(ingest_server.url, sleeps, backoff_cap=60)
    record_all(client, make_events(2))

    result = client.flush()

    assert sleeps == []
    assert len(ingest_server.received) == 1
    assert result.remaining == 2
    assert "3600" in result.last_error


# 400 and 500 are about the batch, not the setup: tests/client/test_deadletter.py.
@pytest.mark.parametrize("status", [401, 403, 415])
def test_non_retryable_status_stops_the_flush_and_keeps_the_events_queued(ingest_server, sleeps, status):
    ingest_server.respond((status, {}, {"error": "nope"}))
    client = make_client(ingest_server.url, sleeps, batch_size=1)
    ids = record_all(client, make_events(3))

    result = client.flush()

    assert len(ingest_server.received) == 1  # no retry, and no later batch either
    assert sleeps == []
    assert result.remaining == 3
    assert result.last_error.startswith(f"HTTP {status}")
    # once the operator fixed the key, the same events go out with their original ids
    assert client.flush().accepted == 3
    assert ingest_server.all_sent_ids == [ids[0], *ids]


def test_a_stop_mid_flush_keeps_only_the_undelivered_batches(ingest_server, sleeps):
    ingest_server.respond(ingest_server.accept, (401, {}, {"error": "revoked"}))
    client = make_client(ingest_server.url, sleeps, batch_size=2)
    ids = record_all(client, make_events(4))

    result = client.flush()

    assert (result.accepted, result.remaining) == (2, 2)
    client.flush()
    assert ingest_server.received[-1].event_ids == ids[2:]


def test_dropped_connection_is_retried_and_a_lost_202_comes_back_as_duplicates(ingest_server, sleeps):
    ingest_server.respond(STORE_THEN_DROP, DROP)
    client = make_client(ingest_server.url, sleeps)
    ids = record_all(client, make_events(3))

    result = client.flush()

    assert [request.event_ids for request in ingest_server.received] == [ids, ids, ids]
    assert len(sleeps) == 2
    assert (result.accepted, result.duplicates, result.remaining) == (0, 3, 0)
    assert list(ingest_server.stored.values()) == [1, 1, 1]  # stored once despite three sends


def test_timeout_is_retried(ingest_server, sleeps):
    ingest_server.respond(STALL)
    client = make_client(ingest_server.url, sleeps, timeout=0.2)
    record_all(client, make_events(1))

    result = client.flush()

    assert len(ingest_server.received) == 2
    assert result.accepted == 1


def test_unreachable_server_is_retried_then_reported(sleeps):
    client = make_client(closed_port_url(), sleeps, max_retries=2)
    record_all(client, make_events(1))

    result = client.flush()

    assert len(sleeps) == 2
    assert result.remaining == 1
    assert "network error" in result.last_error


def test_rejected_items_are_dropped_reported_and_never_resent(ingest_server, sleeps):
    errors = {"model": ["unknown model slug 'yolov9x'"]}
    ingest_server.respond(lambda payload: ingest_server.accept(payload, reject={1: errors}))
    client = make_client(ingest_server.url, sleeps)
    ids = record_all(client, make_events(3))

    result = client.flush()
    again = client.flush()

    assert result.rejected == [{"event_id": ids[1], "errors": errors}]
    assert (result.sent, result.accepted, result.remaining) == (3, 2, 0)
    assert sleeps == []
    assert again.sent == 0
    assert ingest_server.all_sent_ids == ids


def test_413_splits_the_batch_in_halves_until_each_part_fits(ingest_server, sleeps):
    too_big = (413, {}, {"error": "too many events"})
    ingest_server.policy = lambda payload: too_big if len(payload["events"]) > 2 else ingest_server.accept(payload)
    client = make_client(ingest_server.url, sleeps)
    ids = record_all(client, make_events(7))

    result = client.flush()

    assert [len(request.event_ids) for request in ingest_server.received] == [7, 3, 1, 2, 4, 2, 2]
    assert ingest_server.stored == dict.fromkeys(ids, 1)
    assert (result.accepted, result.rejected, result.remaining) == (7, [], 0)
    assert sleeps == []


def test_a_single_event_answered_413_is_dropped_and_reported(ingest_server, sleeps):
    def only_session_0_fits(payload):
        if [event["session_id"] for event in payload["events"]] == ["session-0"]:
            return ingest_server.accept(payload)
        return 413, {}, None

    ingest_server.policy = only_session_0_fits
    client = make_client(ingest_server.url, sleeps)
    ids = record_all(client, make_events(2))

    result = client.flush()

    assert [rejection["event_id"] for rejection in result.rejected] == [ids[1]]
    assert (result.accepted, result.remaining) == (1, 0)


def test_batches_respect_batch_size(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps, batch_size=3)
    ids = record_all(client, make_events(7))

    client.flush()

    assert [request.event_ids for request in ingest_server.received] == [ids[0:3], ids[3:6], ids[6:7]]


def test_batches_respect_max_body_bytes_measured_before_gzip(ingest_server, sleeps):
    events = make_events(10)
    event_size = len(json.dumps(events[0], separators=(",", ":")))
    empty = {"device": DEVICE, "sent_at": "2026-11-20T10:15:01.000Z", "events": []}
    limit = len(json.dumps(empty, separators=(",", ":"))) + 3 * event_size + 2  # exactly three events fit
    client = make_client(ingest_server.url, sleeps, max_body_bytes=limit)
    record_all(client, events)

    client.flush()

    assert [len(request.event_ids) for request in ingest_server.received] == [3, 3, 3, 1]
    assert all(len(gzip.decompress(request.raw_body)) <= limit for request in ingest_server.received)


def test_an_event_larger_than_max_body_bytes_is_dropped_without_sending(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps, max_body_bytes=2_000)
    small = make_events(1)[0]
    huge = session_event(
        **{key: small[key] for key in ("model", "model_version", "runtime", "runtime_version", "delegate")},
        session_id="s",
        started_at=START,
        duration_s=1,
        inferences=500,
        errors=0,
        latencies_ms=[float(i) for i in range(1, 501)],
        include_raw_samples=True,
    )
    small_id, huge_id = client.record(small), client.record(huge)

    result = client.flush()

    assert ingest_server.all_sent_ids == [small_id]
    assert [rejection["event_id"] for rejection in result.rejected] == [huge_id]
    assert result.remaining == 0


def test_on_disk_queue_survives_a_new_client_which_resends_the_original_ids(ingest_server, sleeps, tmp_path):
    offline = make_client(closed_port_url(), sleeps, queue_dir=tmp_path, max_retries=0)
    events = make_events(3)
    ids = record_all(offline, events)
    assert offline.flush().remaining == 3
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(f"{event_id}.json" for event_id in ids)

    restarted = make_client(ingest_server.url, sleeps, queue_dir=tmp_path)
    assert restarted.queued == 3
    result = restarted.flush()

    assert ingest_server.received[0].payload["events"] == events
    assert (result.accepted, result.remaining) == (3, 0)
    assert list(tmp_path.iterdir()) == []


def test_on_disk_queue_ignores_an_interrupted_write_and_sets_aside_a_damaged_file(ingest_server, sleeps, tmp_path):
    (tmp_path / ".0190a000-0000-7000-8000-000000000000.123.tmp").write_bytes(b'{"half')
    damaged = "0190a000-0000-7000-8000-000000000001"
    (tmp_path / f"{damaged}.json").write_bytes(b"\x00\x00garbage")
    client = make_client(ingest_server.url, sleeps, queue_dir=tmp_path)
    ids = record_all(client, make_events(2))

    result = client.flush()

    assert ingest_server.all_sent_ids == ids
    assert [rejection["event_id"] for rejection in result.rejected] == [damaged]
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{damaged}.corrupt"]


def test_record_requires_a_uuid_event_id(sleeps):
    client = make_client("http://127.0.0.1:9", sleeps)
    with pytest.raises(ValueError, match="event_id"):
        client.record({"type": "session"})
    with pytest.raises(ValueError, match="event_id"):
        client.record({"type": "session", "event_id": "../../etc/passwd"})


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 1_001}, {"batch_size": 0}, {"max_body_bytes": 6 * 1024 * 1024}, {"backoff_cap": 0.1}],
)
def test_settings_the_server_would_refuse_are_rejected_up_front(sleeps, options):
    with pytest.raises(ValueError):
        make_client("http://127.0.0.1:9", sleeps, **options)
