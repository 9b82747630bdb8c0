"""A poisoned batch never blocks the device: 400 → dead-letter file and on; repeated 5xx → split, then dead-letter."""

import json

import pytest

from tests.client.fake_ingest import running_fake_ingest
from tests.client.test_client import make_client, make_events, record_all


@pytest.fixture
def ingest_server():
    with running_fake_ingest() as fake:
        yield fake


@pytest.fixture
def sleeps():
    return []


def dead_letters(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def poisoned_by(poison_ids, status=500):
    """A server that fails every batch holding one of `poison_ids` and takes every other batch."""

    def answer(fake):
        def policy(payload):
            if poison_ids & {event["event_id"] for event in payload["events"]}:
                return status, {}, {"error": "server_error", "detail": "Internal error; it has been logged."}
            return fake.accept(payload)

        return policy

    return answer


def test_a_400_batch_goes_to_the_dead_letter_file_with_the_reason_and_the_queue_moves_on(
    ingest_server, sleeps, tmp_path
):
    body = {"error": "body is not valid JSON", "detail": {"body": ["nested too deep"]}}
    ingest_server.respond((400, {}, body))
    client = make_client(ingest_server.url, sleeps, batch_size=2, queue_dir=tmp_path / "queue")
    ids = record_all(client, make_events(4))

    result = client.flush()

    assert (result.accepted, result.remaining) == (2, 0)  # the second batch went out in the same flush
    letters = dead_letters(tmp_path / "queue" / "dead-letter.jsonl")
    assert [letter["event_id"] for letter in letters] == ids[:2]
    assert letters[0]["status"] == 400 and "cannot read" in letters[0]["reason"]
    assert json.loads(letters[0]["server_body"]) == body
    assert letters[0]["event"]["event_id"] == ids[0]  # the queued event itself, to replay
    assert (client.stats.dead_lettered_batches, client.stats.dead_lettered_events) == (1, 2)
    assert {item["event_id"] for item in result.rejected} == set(ids[:2])
    assert client.flush().sent == 0  # never resent


def test_a_500_keeps_the_batch_for_a_later_flush_and_delivers_the_others(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps, batch_size=2)
    ids = record_all(client, make_events(4))
    ingest_server.policy = poisoned_by({ids[1]})(ingest_server)

    result = client.flush()

    assert (result.accepted, result.remaining) == (2, 2)
    assert result.last_error.startswith("HTTP 500")
    assert client.stats.server_errors == 1 and client.stats.batches_split == 0


def test_repeated_500s_split_the_batch_until_only_the_poisoned_event_is_dead_lettered(ingest_server, sleeps):
    client = make_client(ingest_server.url, sleeps, batch_size=8, max_server_errors=3)
    ids = record_all(client, make_events(8))
    ingest_server.policy = poisoned_by({ids[5]})(ingest_server)

    first, second = client.flush(), client.flush()
    assert first.accepted == second.accepted == 0 and client.queued == 8

    third = client.flush()

    assert third.accepted == 7 and client.queued == 0
    assert sorted(ingest_server.stored) == sorted(ids[:5] + ids[6:])
    assert [letter["event_id"] for letter in client.dead_letters.recent] == [ids[5]]
    assert "alone" in client.dead_letters.recent[0]["reason"]
    # 8 → 4+4 → 2+2 → 1+1: three splits, each half that holds the poison split again at once
    assert client.stats.batches_split == 3
    assert (client.stats.dead_lettered_batches, client.stats.dead_lettered_events) == (1, 1)
    assert len(ingest_server.received) == 2 + 1 + 2 + 2 + 2


def test_a_server_that_recovers_before_the_limit_gets_the_whole_batch(ingest_server, sleeps):
    error = (500, {}, {"error": "server_error", "detail": "x"})
    ingest_server.respond(error, error)
    client = make_client(ingest_server.url, sleeps, batch_size=4, max_server_errors=3)
    record_all(client, make_events(4))

    client.flush(), client.flush()
    result = client.flush()

    assert result.accepted == 4 and client.stats.batches_split == 0 and client.stats.dead_lettered_events == 0


def test_gateway_errors_are_retried_not_counted_towards_a_split(ingest_server, sleeps):
    ingest_server.respond(*[(503, {}, {"error": "unavailable"})] * 3)
    client = make_client(ingest_server.url, sleeps, batch_size=4, max_server_errors=1)
    record_all(client, make_events(4))

    assert client.flush().accepted == 4
    assert client.stats.server_errors == 0 and client.stats.batches_split == 0


def test_max_server_errors_must_be_positive(sleeps):
    with pytest.raises(ValueError, match="max_server_errors"):
        make_client("http://127.0.0.1:9", sleeps, max_server_errors=0)
