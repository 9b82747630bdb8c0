"""POST /api/v1/ingest/ at its edges, as API.md describes them: keys and scopes, content types and encodings, the body
and event limits, the rate limit, and the statements a batch costs."""

import gzip
import json
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telemetry.api.throttling import IngestRateThrottle
from telemetry.ingest import service
from telemetry.models import Device, InferenceSession
from tests.telemetry.ingest_factories import INGEST_URL, batch, crash, now, post, session

pytestmark = pytest.mark.django_db


def test_missing_key_is_401_and_key_without_scope_is_403(client, make_api_key, catalog):
    assert client.post(INGEST_URL, b"{}", content_type="application/json").status_code == 401
    _, read_key = make_api_key(scopes=["read"])
    assert post(client, read_key, batch([session()])).status_code == 403


def test_device_key_may_post_only_for_its_own_device(client, make_api_key, catalog):
    _, device_key = make_api_key(scopes=["ingest"], device_uid="pixel8-000042")
    assert post(client, device_key, batch([session()], uid="pixel8-000042")).status_code == 202
    response = post(client, device_key, batch([session()], uid="pixel8-000099"))
    assert response.status_code == 403
    assert not Device.objects.filter(uid="pixel8-000099").exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_content_type_is_415(client, raw_key, content_type):
    response = post(client, raw_key, batch([session()]), content_type=content_type)
    assert response.status_code == 415
    assert not InferenceSession.objects.exists()


def test_unsupported_content_encoding_is_415(client, raw_key):
    body = json.dumps(batch([session()])).encode()
    response = client.generic("POST", INGEST_URL, body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_CONTENT_ENCODING="br")  # fmt: skip
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{not json", "body is not valid JSON"), (b'{"events": []}', "envelope is invalid"),
     (b'{"device": {"uid": "d", "model": "google-pixel-8"}}', "envelope is invalid"), (b"[]", "envelope is invalid")],
)  # fmt: skip
def test_unreadable_envelope_is_400_and_stores_nothing(client, raw_key, body, error):
    response = post(client, raw_key, body)
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["detail"]
    assert not Device.objects.exists()


def test_body_over_5_mib_is_413(client, raw_key):
    events = [session(fallback_ops=["X" * 100] * 1000) for _ in range(60)]  # ~6 MiB of JSON, few events
    response = post(client, raw_key, batch(events))
    assert response.status_code == 413
    assert not InferenceSession.objects.exists()


def test_gzip_bomb_is_413_without_inflating_it(client, raw_key):
    prefix = b'{"device": {"uid": "d", "model": "google-pixel-8"}, "events": [], "pad": "'
    bomb = gzip.compress(prefix + b" " * (200 * 1024 * 1024) + b'"}', compresslevel=9)  # 200 MiB in ~200 KiB
    assert len(bomb) < 1024 * 1024
    response = client.generic("POST", INGEST_URL, bomb, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_CONTENT_ENCODING="gzip")  # fmt: skip
    assert response.status_code == 413


def test_truncated_gzip_is_400(client, raw_key):
    body = gzip.compress(json.dumps(batch([session()])).encode())[:-20]
    response = client.generic("POST", INGEST_URL, body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_CONTENT_ENCODING="gzip")  # fmt: skip
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (json.dumps({"device": {}}).encode() * 4, "body is not valid gzip"),  # plain JSON sent as gzip
        (b"\x1f\x8b\x08\x00" + b"\xff" * 60, "body is not valid gzip"),  # a gzip header, then garbage
        (b"\x1f\x8b", "gzip body is truncated"),
    ],
)
def test_a_body_that_is_not_gzip_is_400_saying_so(client, raw_key, body, error):
    response = client.generic("POST", INGEST_URL, body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_CONTENT_ENCODING="gzip")  # fmt: skip
    assert (response.status_code, response.json()["error"]) == (400, error)


def test_a_gzip_body_of_several_members_is_read_whole(client, raw_key):
    first, second = session(), session()
    text = json.dumps(batch([first, second])).encode()
    body = gzip.compress(text[:100]) + gzip.compress(text[100:])  # what concatenated gzip writers send
    response = client.generic("POST", INGEST_URL, body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {raw_key}", HTTP_CONTENT_ENCODING="gzip")  # fmt: skip
    assert response.json() == {"accepted": 2, "duplicates": 0, "rejected": []}


def test_more_than_1000_events_is_413(client, raw_key):
    event = {"type": "session", "event_id": str(uuid.uuid4())}
    response = post(client, raw_key, batch([event] * 1001))
    assert response.status_code == 413


def test_key_over_its_rate_gets_429_with_retry_after(client, raw_key, make_api_key, monkeypatch):
    monkeypatch.setattr(IngestRateThrottle, "THROTTLE_RATES", {"ingest": "2/min"})
    clock = [600.0 + 45]  # 15 s before the minute's window ends
    monkeypatch.setattr(IngestRateThrottle, "timer", lambda self: clock[0])
    cache.clear()

    statuses = [post(client, raw_key, batch([session()])).status_code for _ in range(3)]
    refused = post(client, raw_key, batch([session()]))
    other = post(client, make_api_key(scopes=["ingest"], name="other")[1], batch([session()], uid="pixel8-000043"))
    clock[0] = 660.0  # the next window
    next_window = post(client, raw_key, batch([session()]))

    assert statuses == [202, 202, 429]
    assert (refused.status_code, refused["Retry-After"]) == (429, "15")
    assert other.status_code == 202  # per key
    assert next_window.status_code == 202
    cache.clear()


@pytest.mark.postgres  # prepared statements are PostgreSQL's
def test_per_batch_statements_are_prepared_once_whatever_the_batch_holds(client, raw_key):
    first = session()
    post(client, raw_key, batch([first, crash(session_id=first["session_id"])]))
    second = [session(), session(runtime_version="2.17.0", delegate="cpu"), session(model_version="2.0.0")]
    post(client, raw_key, batch([*second, crash(session_id=second[0]["session_id"]), crash(frames=[])]))

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]

    # One prepared text each, although the two batches differ in stacks, crashes and their sessions (arrays, not
    # a placeholder per value).
    for start in ("SELECT 'm', '', slug, id", "WITH k (session_id", "SELECT a.fingerprint", "WITH linked AS",
                  'INSERT INTO "telemetry_device"', "WITH s (fingerprint", "WITH c (id, events",
                  'INSERT INTO "telemetry_rollupdirtyhour"'):  # fmt: skip
        assert sum(statement.startswith(start) for statement in prepared) == 1, (start, prepared)


def test_query_count_does_not_grow_with_batch_size(client, raw_key):
    # Device, versions, both crash groups and the key's last_used_at already written.
    post(client, raw_key, batch([session(), crash(), crash(frames=[])]))

    def queries_for(size: int) -> int:
        events = [session() for _ in range(size)] + [crash(), crash(frames=[])]
        with CaptureQueriesContext(connection) as captured:
            assert post(client, raw_key, batch(events)).json()["accepted"] == size + 2
        return len(captured)

    small, large = queries_for(5), queries_for(300)
    # Pinned: auth, savepoint and release, one catalog read, device, sessions and crashes (PostgreSQL: a COPY of the
    # event keys and one of the rows each; SQLite: key check, key insert, row insert each), the sessions' partials
    # and their fallback-op partials, group aliases, groups read (one upsert more for a batch bringing new groups),
    # pairs + counters and session-crash links (PostgreSQL: one statement each; SQLite: two each), dirty hours
    # (PostgreSQL: one upsert; SQLite: the marked hours, the ones due a re-queue, the write).
    assert small == large == (16 if connection.vendor == "postgresql" else 22)


@pytest.mark.postgres
def test_linking_a_batchs_crashes_to_its_sessions_reads_those_sessions_not_the_batch(client, raw_key, monkeypatch):
    post(client, raw_key, batch([session(at=now() - timedelta(hours=3, minutes=i % 60)) for i in range(300)]))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telemetry_inferencesession")  # statistics that end before the next batch's rows
    lookups, lookup = [], service.session_ids_by_event

    def captured(**kwargs):
        def capture(execute, sql, params, many, context):
            lookups.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            return lookup(**kwargs)

    monkeypatch.setattr(service, "session_ids_by_event", captured)
    sessions = [session(at=now() - timedelta(minutes=i % 60)) for i in range(400)]
    crashes = [crash(session_id=sessions[i]["session_id"]) for i in (0, 59, 399)]  # spanning the batch's hour
    assert post(client, raw_key, batch(sessions + crashes)).json()["accepted"] == 403

    ((sql, params),) = lookups
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def rows_read(node: dict) -> float:
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
        scanned = own if "Scan" in node["Node Type"] and "Function" not in node["Node Type"] else 0
        return scanned + sum(rows_read(child) for child in node.get("Plans", []))

    assert InferenceSession.objects.filter(crashes__isnull=False).distinct().count() == 3  # linked as stored
    assert rows_read(plan[0]["Plan"]) <= 6, plan  # the three crashed sessions, not the batch's 400
