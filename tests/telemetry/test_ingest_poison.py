"""One poisoned event never fails its batch: it is rejected by index with its field named, the rest is stored;
what is wrong with the envelope is a clear 400. Never a 500 (the SDK would keep resending the batch forever)."""

import json

import pytest

from telemetry.models import CrashReport, Device, InferenceSession
from tests.telemetry.ingest_factories import batch, crash, now, post, session


def _body(events: list, **batch_kwargs) -> bytes:
    return json.dumps(batch(events, **batch_kwargs)).encode()


def _poisoned(poison_bytes: bytes, placeholder: str = "POISON") -> bytes:
    """A batch of good, poisoned, good: the placeholder string (quotes included) replaced by raw bytes."""
    bad = session(thermal_state=placeholder)
    return _body([session(), bad, crash()]).replace(f'"{placeholder}"'.encode(), poison_bytes)


def _assert_only_middle_rejected(response, field: str) -> None:
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 2
    assert [item["index"] for item in body["rejected"]] == [1]
    assert field in body["rejected"][0]["errors"], body["rejected"][0]["errors"]
    assert (InferenceSession.objects.count(), CrashReport.objects.count()) == (1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("at_field", ["started_at", "occurred_at"])
def test_utc_offset_beyond_15_59_rejects_only_its_event(client, raw_key, at_field):
    at = (now().replace(tzinfo=None)).isoformat() + "+23:59"
    events = [session(), session(started_at=at) if at_field == "started_at" else crash(occurred_at=at), crash()]
    response = post(client, raw_key, _body(events))
    assert response.status_code == 202, response.content
    assert [(item["index"], list(item["errors"])) for item in response.json()["rejected"]] == [(1, [at_field])]
    assert InferenceSession.objects.count() + CrashReport.objects.count() == 2


@pytest.mark.django_db
def test_invalid_utf8_in_a_string_rejects_only_its_event_naming_the_field(client, raw_key):
    _assert_only_middle_rejected(post(client, raw_key, _poisoned(b'"nominal\xff\xfe"')), "thermal_state")


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_too_deep_in_one_event_rejects_only_that_event(client, raw_key, depth):
    deep = b"[" * depth + b"]" * depth
    in_a_field = _poisoned(deep)  # where a string belongs: a validation error naming the field
    in_an_unknown_field = _body([session(), {**session(), "extra": "POISON"}, crash()]).replace(b'"POISON"', deep)
    for body, errors in ((in_a_field, "thermal_state"), (in_an_unknown_field, "event")):
        response = post(client, raw_key, body)
        assert response.status_code == 202, response.content
        assert response.json()["accepted"] == 2
        [rejected] = response.json()["rejected"]
        assert rejected["index"] == 1 and list(rejected["errors"]) == [errors], rejected
    assert response.json()["rejected"][0]["errors"] == {"event": ["JSON nests too deep to decode"]}
    assert (InferenceSession.objects.count(), CrashReport.objects.count()) == (2, 2)  # both batches' good events


@pytest.mark.django_db
def test_json_nested_too_deep_in_the_envelope_is_a_clear_400(client, raw_key):
    body = json.dumps({**batch([session(), crash()]), "extra": "POISON"}).encode()  # an unknown field is skipped
    response = post(client, raw_key, body.replace(b'"POISON"', b"[" * 5000 + b"]" * 5000))
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == {"body": ["JSON nests too deep to decode"]}
    assert InferenceSession.objects.count() + CrashReport.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("poison", "field"),
    [
        (b"1e400", "duration_s"),
        (b"99999999999999999999999999999", "inferences"),
    ],
)
def test_huge_numbers_reject_only_their_event(client, raw_key, poison, field):
    bad = session(duration_s="POISON") if field == "duration_s" else session(inferences="POISON")
    body = _body([session(), bad, crash()]).replace(b'"POISON"', poison)
    _assert_only_middle_rejected(post(client, raw_key, body), field)


@pytest.mark.django_db
def test_a_huge_frame_offset_rejects_only_its_crash(client, raw_key):
    frames = [{"function": "f", "module": "m.so", "offset": "POISON", "in_app": True}]
    body = _body([session(), crash(frames=frames), crash()]).replace(b'"POISON"', b"9" * 40)
    response = post(client, raw_key, body)
    assert response.status_code == 202, response.content
    assert [item["index"] for item in response.json()["rejected"]] == [1]


@pytest.mark.django_db
@pytest.mark.parametrize("sent_at", ["9999-12-31T23:59:59Z", "2026-11-20T10:00:00+23:59", "0001-01-01T00:00:00Z"])
def test_a_sent_at_no_clock_can_shift_by_is_a_400_naming_it(client, raw_key, sent_at):
    payload = batch([session(), crash()])
    payload["sent_at"] = sent_at
    response = post(client, raw_key, payload)
    assert response.status_code == 400, response.content
    assert list(response.json()["detail"]) == ["sent_at"]
    assert InferenceSession.objects.count() == 0


@pytest.mark.django_db
def test_invalid_utf8_in_the_device_is_a_400(client, raw_key):
    body = _body([session()]).replace(b'"Android 15"', b'"Android \xff"')
    response = post(client, raw_key, body)
    assert response.status_code == 400, response.content
    assert Device.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("uid", ["a/b", "../x", "a b", "ü", "x" * 129, "a?b", "a%2Fb"])
def test_a_device_uid_outside_the_documented_alphabet_is_a_400(client, raw_key, uid):
    response = post(client, raw_key, batch([session()], uid=uid))
    assert response.status_code == 400, response.content
    assert "device.uid" in response.json()["detail"]
    assert Device.objects.count() == 0


@pytest.mark.django_db
def test_a_device_uid_in_the_documented_alphabet_is_taken(client, raw_key):
    response = post(client, raw_key, batch([session()], uid="Pixel_8.0:a-b"))
    assert (response.status_code, response.json()["accepted"]) == (202, 1)
