"""Ingest of a session's optional energy_mj_per_inference (issue 19, item 5): stored when sent, null when not."""

import uuid

import pytest

from edgeportal_client.events import session_event
from telemetry.models import InferenceSession
from tests.telemetry.ingest_factories import batch, now, post, session

pytestmark = pytest.mark.django_db


def _energy(event: dict) -> float | None:
    return InferenceSession.objects.get(event_id=uuid.UUID(event["event_id"])).energy_mj_per_inference


def test_energy_is_stored_beside_sessions_without_it_in_one_batch(client, raw_key):
    # Mixed values and nulls in one column: the COPY path's NULL handling and the portable executemany alike.
    measured, whole, absent, null = session(energy_mj_per_inference=3.25), session(energy_mj_per_inference=4), \
        session(), session(energy_mj_per_inference=None)  # fmt: skip

    response = post(client, raw_key, batch([measured, whole, absent, null]))

    assert response.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    assert [_energy(event) for event in (measured, whole, absent, null)] == [3.25, 4.0, None, None]


def test_zero_energy_is_a_figure_not_a_missing_one(client, raw_key):
    event = session(energy_mj_per_inference=0.0)
    post(client, raw_key, batch([event]))
    assert _energy(event) == 0.0


@pytest.mark.parametrize("value", [-0.5, "3.0", True])
def test_a_bad_energy_rejects_only_its_event_naming_the_field(client, raw_key, value):
    bad, good = session(energy_mj_per_inference=value), session(energy_mj_per_inference=1.5)

    body = post(client, raw_key, batch([bad, good])).json()

    assert (body["accepted"], body["duplicates"]) == (1, 0)
    assert [item["index"] for item in body["rejected"]] == [0]
    assert list(body["rejected"][0]["errors"]) == ["energy_mj_per_inference"]
    assert InferenceSession.objects.count() == 1 and _energy(good) == 1.5


def test_a_negative_energy_says_it_must_be_at_least_zero(client, raw_key):
    body = post(client, raw_key, batch([session(energy_mj_per_inference=-1)])).json()
    assert body["rejected"][0]["errors"] == {"energy_mj_per_inference": ["Expected `float` >= 0.0"]}


def test_a_resend_through_the_staged_path_keeps_the_energy(client, raw_key):
    stored, new = session(energy_mj_per_inference=2.0), session(energy_mj_per_inference=7.5)
    post(client, raw_key, batch([stored]))

    body = post(client, raw_key, batch([stored, new])).json()

    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert (_energy(stored), _energy(new)) == (2.0, 7.5)


def test_the_sdk_sends_energy_only_when_measured():
    common = dict(model="m", model_version="1", runtime="tflite", runtime_version="2", delegate="gpu",
                  session_id="s1", started_at=now(), duration_s=1.0, inferences=10, errors=0)  # fmt: skip
    assert "energy_mj_per_inference" not in session_event(**common)
    assert session_event(**common, energy_mj_per_inference=2.5)["energy_mj_per_inference"] == 2.5
    with pytest.raises(ValueError, match="energy_mj_per_inference"):
        session_event(**common, energy_mj_per_inference=-1.0)
