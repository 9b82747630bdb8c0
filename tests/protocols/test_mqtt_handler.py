"""One MQTT message through the handler: the same checks and answers as POST /api/v1/ingest/ (no broker needed)."""

import gzip
import json

import pytest

from protocols.mqtt.handler import message_handle
from telemetry.models import InferenceSession
from tests.telemetry.ingest_factories import batch, session

pytestmark = pytest.mark.django_db


def handle(raw_key, payload, *, uid="pixel8-000042", topic=None, **properties):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    props = {"authorization": f"Bearer {raw_key}"} if raw_key else {}
    return message_handle(topic=topic or f"edgeportal/{uid}/events", payload=body, user_properties={**props,
                          **properties})  # fmt: skip


def test_a_batch_is_stored_and_answered_like_http(ingest_key, catalog):
    outcome = handle(ingest_key[1], batch([session(), session()]))

    assert (outcome.uid, outcome.status, outcome.body) == ("pixel8-000042", 202,
                                                           {"accepted": 2, "duplicates": 0, "rejected": []})  # fmt: skip
    assert InferenceSession.objects.count() == 2


def test_gzip_bodies_are_read_and_a_redelivery_is_duplicates(ingest_key, catalog):
    body = gzip.compress(json.dumps(batch([session()])).encode())

    handle(ingest_key[1], body, **{"content-encoding": "gzip"})
    outcome = handle(ingest_key[1], body, **{"content-encoding": "gzip"})

    assert outcome.body == {"accepted": 0, "duplicates": 1, "rejected": []}


@pytest.mark.parametrize(
    "case, status",
    [("bad-topic", 400), ("no-key", 401), ("wrong-key", 401), ("read-key", 403), ("other-device-key", 403),
     ("batch-for-another-device", 403), ("not-json", 400)],
)  # fmt: skip
def test_refusals_answer_the_http_status_and_store_nothing(make_api_key, ingest_key, catalog, case, status):
    raw_key, payload, topic = ingest_key[1], batch([session()]), None
    if case == "bad-topic":
        topic = "edgeportal/pixel8-000042/events/extra"
    elif case == "no-key":
        raw_key = None
    elif case == "wrong-key":
        raw_key = raw_key[:-3] + "xyz"
    elif case == "read-key":
        raw_key = make_api_key(scopes=["read"])[1]
    elif case == "other-device-key":
        raw_key = make_api_key(scopes=["ingest"], device_uid="pixel8-000099")[1]
    elif case == "batch-for-another-device":
        payload = batch([session()], uid="pixel8-000099")
    else:
        payload = b"{not json"

    outcome = handle(raw_key, payload, topic=topic)

    assert outcome.status == status and "error" in outcome.body
    assert InferenceSession.objects.count() == 0
