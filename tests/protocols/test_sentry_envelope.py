"""POST /api/<project_id>/envelope/ and /store/: item framing, item types, encodings, auth, limits, atomicity."""

import gzip
import json
import uuid
import zlib

import brotli
import pytest
from django.core.cache import cache

from protocols.ingest_bridge import IngestRateThrottle
from protocols.models import ReleaseHealthAggregate, ReleaseHealthSession, SentryAttachment, SentryClientReport
from telemetry.models import CrashReport
from tests.protocols.sentry_factories import envelope, post, sentry_event, session_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(make_api_key, catalog):
    api_key, raw_key = make_api_key(scopes=["ingest"])
    return api_key.pk, raw_key


def test_event_envelope_answers_its_id_and_stores_the_crash(client, key):
    event = sentry_event()

    response = post(client, *key, envelope(({"type": "event"}, event)))

    assert response.status_code == 200 and response.json() == {"id": event["event_id"]}
    crash = CrashReport.objects.get()
    assert crash.event_id == uuid.UUID(event["event_id"])
    assert [frame["function"] for frame in crash.frames] == ["run", "main"]


@pytest.mark.parametrize("lengths", [True, False], ids=["by-length", "by-newline"])
def test_unknown_item_types_are_skipped_and_the_items_after_them_still_read(client, key, lengths):
    event = sentry_event()
    body = envelope(({"type": "profile_chunk_of_the_future"}, {"x": [1, 2]}), ({"type": "transaction"}, {"spans": []}),
                    ({"type": "event"}, event), ({"type": "session"}, session_update()), lengths=lengths)  # fmt: skip

    response = post(client, *key, body)

    assert response.status_code == 200
    assert CrashReport.objects.count() == 1 and ReleaseHealthSession.objects.count() == 1


def test_a_minidump_with_newlines_inside_is_read_by_its_length_and_kept_with_its_crash(client, key):
    event = sentry_event(platform="native")
    minidump = b"MDMP\x93\xa7\n\n\x00binary\nstuff\n" * 50
    body = envelope(({"type": "event"}, event), ({"type": "attachment", "filename": "upload.dmp",
                     "attachment_type": "event.minidump"}, minidump), header={"event_id": event["event_id"]})  # fmt: skip

    assert post(client, *key, body).status_code == 200

    attachment = SentryAttachment.objects.get()
    assert bytes(attachment.data) == minidump and attachment.attachment_type == "event.minidump"
    assert CrashReport.objects.get(event_id=attachment.event_id).kind == "native"


def test_client_reports_and_aggregated_sessions_are_counted_once_when_resent(client, key):
    report = {"timestamp": "2026-11-30T10:00:00Z", "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 3},
        {"reason": "ratelimit_backoff", "category": "session", "quantity": 2}]}  # fmt: skip
    sessions = {"aggregates": [{"started": "2026-11-30T10:00:00Z", "exited": 7, "crashed": 1, "errored": 2}],
                "attrs": {"release": "edgeapp@3.2.1"}}  # fmt: skip
    body = envelope(({"type": "client_report"}, report), ({"type": "sessions"}, sessions))

    post(client, *key, body)
    assert post(client, *key, body).status_code == 200

    assert sorted(SentryClientReport.objects.values_list("reason", "quantity")) == [
        ("queue_overflow", 3), ("ratelimit_backoff", 2)]  # fmt: skip
    assert ReleaseHealthAggregate.objects.get().crashed == 1


def test_a_later_ok_update_never_reopens_a_crashed_session(client, key):
    crashed = session_update(status="crashed", timestamp="2026-11-30T10:05:00Z", started="2026-11-30T10:00:00Z")
    late_ok = {**crashed, "status": "ok", "timestamp": "2026-11-30T10:06:00Z"}

    post(client, *key, envelope(({"type": "session"}, crashed)))
    post(client, *key, envelope(({"type": "session"}, late_ok)))

    assert ReleaseHealthSession.objects.get().status == "crashed"


@pytest.mark.parametrize(
    "encoding, compress",
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15)),
     ("br", brotli.compress)],
    ids=["gzip", "deflate-zlib", "deflate-raw", "brotli"],
)  # fmt: skip
def test_compressed_bodies_are_read(client, key, encoding, compress):
    response = post(client, *key, compress(envelope(({"type": "event"}, sentry_event()))), encoding=encoding)

    assert response.status_code == 200 and CrashReport.objects.count() == 1


@pytest.mark.parametrize(
    "body, encoding, status",
    [(b"\x1f\x8b not gzip", "gzip", 400), (b"not brotli at all", "br", 400), (b"{}", "zstd", 415),
     (gzip.compress(b"{}\n" + b" " * (41 * 1024 * 1024)), "gzip", 413),
     (brotli.compress(b"{}\n" + b" " * (41 * 1024 * 1024)), "br", 413),
     (b"not json\n", None, 400), (b'{}\n{"type": "event", "length": 99}\n{}', None, 400),
     (b'{}\n{"type": "event", "length": -1}\n{}', None, 400), (b'{}\n{"type": "event"}\n[1, 2', None, 400),
     (b'{}\n{"type": "event"}\n"a string"', None, 400), (b'{}\n{"type": "session"}\n{"sid": "nope"}', None, 400)],
    ids=["bad-gzip", "bad-brotli", "unknown-encoding", "gzip-bomb", "brotli-bomb", "header-not-json",
         "truncated-item", "negative-length", "event-not-json", "event-not-object", "session-without-sid"],
)  # fmt: skip
def test_malformed_bodies_get_sentrys_error_and_store_nothing(client, key, body, encoding, status):
    response = post(client, *key, body, encoding=encoding)

    assert response.status_code == status and "detail" in response.json()
    assert CrashReport.objects.count() == 0 and ReleaseHealthSession.objects.count() == 0


def test_an_event_without_the_stack_tags_rejects_the_whole_envelope(client, key):
    event = sentry_event(tags={"edge.device_model": "google-pixel-8"})
    body = envelope(({"type": "session"}, session_update()), ({"type": "event"}, event))

    response = post(client, *key, body)

    assert response.status_code == 400
    assert "tags.edge.model: This tag is required." in response.json()["causes"]
    assert ReleaseHealthSession.objects.count() == 0 and CrashReport.objects.count() == 0


def test_an_event_the_ingest_rejects_stores_nothing_of_its_envelope(client, key):
    event = sentry_event(tags={**sentry_event()["tags"], "edge.runtime": "no-such-runtime"})
    body = envelope(({"type": "session"}, session_update()), ({"type": "event"}, event))

    response = post(client, *key, body)

    assert response.status_code == 400 and "runtime: unknown runtime 'no-such-runtime'" in response.json()["causes"]
    assert ReleaseHealthSession.objects.count() == 0


def test_info_messages_are_acknowledged_but_not_crashes(client, key):
    event = sentry_event(level="info", message="camera warmed up")
    del event["exception"]

    response = post(client, *key, envelope(({"type": "event"}, event)))

    assert response.status_code == 200 and CrashReport.objects.count() == 0


def test_store_endpoint_takes_one_event_and_a_resend_is_a_duplicate(client, key):
    body = json.dumps(sentry_event()).encode()

    first = post(client, *key, body, endpoint="store")
    again = post(client, *key, gzip.compress(body), endpoint="store", encoding="gzip")

    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert CrashReport.objects.count() == 1


def test_sentry_key_query_parameter_authenticates(client, key):
    project_id, raw_key = key

    response = post(client, project_id, None, envelope(({"type": "event"}, sentry_event())),
                    query=f"?sentry_key={raw_key}&sentry_version=7")  # fmt: skip

    assert response.status_code == 200


@pytest.mark.parametrize("case", ["missing", "wrong", "other-project", "no-ingest-scope"])
def test_bad_credentials_get_401_or_403_and_store_nothing(client, key, make_api_key, case):
    project_id, raw_key = key
    if case == "missing":
        raw_key, expected = None, 401
    elif case == "wrong":
        raw_key, expected = raw_key[:-4] + "xxxx", 401
    elif case == "other-project":
        project_id, expected = project_id + 1000, 403
    else:
        reader, raw_key = make_api_key(scopes=["read"])
        project_id, expected = reader.pk, 403

    response = post(client, project_id, raw_key, envelope(({"type": "event"}, sentry_event())))

    assert response.status_code == expected and "detail" in response.json()
    assert CrashReport.objects.count() == 0


def test_a_device_key_cannot_post_for_another_device(client, make_api_key, catalog):
    api_key, raw_key = make_api_key(scopes=["ingest"], device_uid="pixel8-000099")

    response = post(client, api_key.pk, raw_key, envelope(({"type": "event"}, sentry_event())))

    assert response.status_code == 403 and CrashReport.objects.count() == 0


def test_oversize_event_is_413(client, key):
    event = sentry_event(extra={"blob": "x" * (1024 * 1024)})

    assert post(client, *key, envelope(({"type": "event"}, event))).status_code == 413


def test_over_the_rate_answers_429_with_sentrys_rate_limit_headers(client, key, monkeypatch):
    cache.clear()
    monkeypatch.setattr(IngestRateThrottle, "THROTTLE_RATES", {"ingest": "1/min"})
    body = envelope(({"type": "session"}, session_update()))

    assert post(client, *key, body).status_code == 200
    response = post(client, *key, body)

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response["X-Sentry-Rate-Limits"] == f"{response['Retry-After']}::key"
