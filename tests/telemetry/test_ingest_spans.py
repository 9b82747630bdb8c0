"""The iterative event splitter behind a batch whose one event nests too deep for msgspec (no database)."""

import json

import pytest

from telemetry.ingest.spans import events_split


def test_each_event_comes_back_as_its_own_bytes_and_the_envelope_without_them():
    events = [{"a": 'x,]}\\"[{'}, [1, [2, {"b": "\\u005d"}]], "plain", 3.5, {"events": [9]}]
    body = json.dumps({"device": {"events": "not this", "uid": "u"}, "events": events, "sent_at": None}).encode()
    envelope, spans = events_split(body)
    assert [json.loads(span) for span in spans] == events
    assert json.loads(envelope) == {"device": {"events": "not this", "uid": "u"}, "events": [], "sent_at": None}


def test_a_deep_event_is_split_out_without_recursion():
    deep = b"[" * 200_000 + b"]" * 200_000
    body = b'{"device": {}, "events": [{"x": 1}, ' + deep + b', {"y": "]"}]}'
    envelope, spans = events_split(body)
    assert spans == [b'{"x": 1}', deep, b'{"y": "]"}']
    assert envelope == b'{"device": {}, "events": []}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"device": {"events": [1]}}',  # no top-level events array
        b'{"events": [1,, 2]}',  # an empty element
        b'{"events": [1, "unterminated]}',
        b'{"events": [1, 2',  # never closed
        b'{"events": {"a": 1}}',  # not an array
    ],
)
def test_a_body_without_a_readable_events_array_is_none(body):
    assert events_split(body) is None


def test_an_empty_events_array():
    assert events_split(b'{"events": [ ], "device": {}}') == (b'{"events": [], "device": {}}', [])
