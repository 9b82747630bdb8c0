"""POST /api/v1/ingest/ as API.md describes it: statuses, partial success, idempotency, slugs, clocks, limits."""

import gzip
import json
import uuid
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compat.models import ModelVersion, RuntimeVersion
from edgeportal_client.histogram import LatencyHistogram
from telemetry.api.throttling import IngestRateThrottle
from telemetry.kpi.buckets import hour_floor
from telemetry.models import ClockFlag, CrashReport, Device, InferenceSession, RollupDirtyHour
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import INGEST_URL, batch, crash, now, post, session

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(db):
    return catalog_make()


@pytest.fixture
def raw_key(ingest_key, catalog):
    return ingest_key[1]


def test_batch_of_sessions_and_crash_is_stored_and_device_upserted(client, raw_key, catalog):
    first = session()
    response = post(client, raw_key, batch([first, session(), crash(session_id=first["session_id"])]), gzipped=True)

    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    device = Device.objects.get(uid="pixel8-000042")
    assert (device.device_model, device.app_version, device.firmware) == (catalog.pixel, "3.2.1", "AP4A.250105.002")
    stored = InferenceSession.objects.get(event_id=first["event_id"])
    assert stored.model_version == catalog.v1 and stored.delegate == catalog.gpu
    assert stored.device_model == catalog.pixel and stored.app_version == "3.2.1"
    assert stored.latency_histogram == first["latency_histogram"]
    assert stored.has_crash is True
    assert InferenceSession.objects.filter(has_crash=False).count() == 1


def test_resend_is_counted_as_duplicates_not_stored_twice(client, raw_key):
    payload = batch([session(), session(), crash()])
    post(client, raw_key, payload)

    response = post(client, raw_key, payload, gzipped=True)

    assert response.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert InferenceSession.objects.count() == 2 and CrashReport.objects.count() == 1


def test_resend_mixed_with_new_events_stores_only_the_new_ones(client, raw_key):
    stored = [session(), session(), crash()]
    post(client, raw_key, batch(stored))
    new = [session(), crash()]

    with CaptureQueriesContext(connection) as captured:
        response = post(client, raw_key, batch([new[0], *stored, new[1]]))

    assert response.json() == {"accepted": 2, "duplicates": 3, "rejected": []}
    assert InferenceSession.objects.count() == 3 and CrashReport.objects.count() == 2
    assert set(InferenceSession.objects.values_list("event_id", flat=True)) == {
        uuid.UUID(event["event_id"]) for event in (*stored[:2], new[0])
    }
    if connection.vendor == "postgresql":  # the optimistic COPY met stored events: staged path, per table
        assert sum("CREATE TEMP TABLE" in query["sql"] for query in captured) == 2


def test_a_resend_redone_through_the_staged_path_reports_each_rejection_once(client, raw_key):
    stored = session()
    post(client, raw_key, batch([stored]))
    bad, unknown = session(inferences=-1), session(runtime="no-such-runtime")

    response = post(client, raw_key, batch([stored, bad, unknown, session()]))

    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [item["index"] for item in body["rejected"]] == [1, 2]  # once each, though the batch ran twice
    assert InferenceSession.objects.count() == 2


@pytest.mark.postgres
def test_a_fresh_batch_is_copied_straight_into_its_tables(client, raw_key):
    with CaptureQueriesContext(connection) as captured:
        response = post(client, raw_key, batch([session(), session(), crash()]))

    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert not [
        query["sql"] for query in captured if "stage_" in query["sql"] or "ON CONFLICT (event_id)" in query["sql"]
    ]


def test_same_event_twice_in_one_batch_is_one_row_and_one_duplicate(client, raw_key):
    event = session()
    response = post(client, raw_key, batch([event, event]))
    assert response.json() == {"accepted": 1, "duplicates": 1, "rejected": []}


def test_invalid_items_are_rejected_by_index_while_valid_ones_land(client, raw_key):
    bad_count = session(inferences=-3)
    no_time = {k: v for k, v in session().items() if k != "started_at"}
    response = post(client, raw_key, batch([session(), bad_count, no_time, {"type": "telemetry"}, 42, session()]))

    body = response.json()
    assert response.status_code == 202
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [item["index"] for item in body["rejected"]] == [1, 2, 3, 4]
    expected_first = {"index": 1, "event_id": bad_count["event_id"], "errors": {"inferences": ["Expected `int` >= 0"]}}
    assert body["rejected"][0] == expected_first
    assert body["rejected"][1]["errors"] == {"started_at": ["This field is required."]}
    assert InferenceSession.objects.count() == 2


def test_bad_histogram_is_rejected_naming_the_field(client, raw_key):
    event = session(latency_histogram={"gamma": 1.5, "counts": {"1": 2}})
    body = post(client, raw_key, batch([event])).json()
    assert list(body["rejected"][0]["errors"]) == ["latency_histogram.gamma"]


def test_raw_samples_and_device_histogram_are_merged(client, raw_key):
    event = session(samples=[5.0, 5.0, 80.0])
    post(client, raw_key, batch([event]))
    stored = LatencyHistogram.from_wire(InferenceSession.objects.get().latency_histogram)
    expected = LatencyHistogram.from_wire(event["latency_histogram"])
    expected.merge(LatencyHistogram.from_samples([5.0, 5.0, 80.0]))
    assert stored == expected and stored.count == 203


@pytest.mark.parametrize(
    ("override", "field"),
    [({"model": "no-such-model"}, "model"), ({"runtime": "no-such-rt"}, "runtime"), ({"delegate": "npu"}, "delegate")],
)
def test_unknown_slug_rejects_that_event(client, raw_key, override, field):
    response = post(client, raw_key, batch([session(), session(**override)]))
    body = response.json()
    assert body["accepted"] == 1
    assert list(body["rejected"][0]["errors"]) == [field]


def test_unknown_device_model_rejects_every_event_and_stores_nothing(client, raw_key):
    body = post(client, raw_key, batch([session(), crash()], device_model="nokia-3310")).json()
    assert body["accepted"] == 0
    assert [r["errors"] for r in body["rejected"]] == [{"device.model": ["unknown device model 'nokia-3310'"]}] * 2
    assert not Device.objects.exists()


def test_unknown_versions_of_known_model_and_runtime_are_registered(client, raw_key):
    response = post(client, raw_key, batch([session(model_version="2.0.0", runtime_version="2.17.0")]))
    assert response.json()["accepted"] == 1
    assert ModelVersion.objects.filter(ml_model__slug="yolov8n", version="2.0.0").exists()
    assert RuntimeVersion.objects.filter(runtime__slug="tflite", version="2.17.0").exists()


def test_crash_arriving_after_its_session_marks_the_session(client, raw_key):
    event = session()
    post(client, raw_key, batch([event]))
    post(client, raw_key, batch([crash(session_id=event["session_id"])]))
    stored = InferenceSession.objects.get()
    assert stored.has_crash is True
    assert CrashReport.objects.get().inference_session == stored


def test_session_arriving_after_its_crash_is_marked_and_linked(client, raw_key):
    event = session()
    post(client, raw_key, batch([crash(session_id=event["session_id"])]))
    post(client, raw_key, batch([event]))
    assert InferenceSession.objects.get().has_crash is True
    assert CrashReport.objects.get().inference_session_id == InferenceSession.objects.get().pk


def _command_of(table: str) -> int:
    """The command id, within its transaction, that wrote the current version of `table`'s one row (cmin)."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT cmin::text::int FROM "{table}"')  # noqa: S608 -- a table name of this test
        (command,) = cursor.fetchall()
        return command[0]


def test_a_session_whose_crash_is_in_its_batch_is_stored_flagged_and_its_crash_linked_not_updated(client, raw_key):
    event = session()
    updates = []

    def count_updates(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE"):  # SQLite runs the links as plain UPDATEs
            updates.append((sql.split('"')[1], context["cursor"].rowcount))
        return result

    with connection.execute_wrapper(count_updates):
        response = post(client, raw_key, batch([event, crash(session_id=event["session_id"])]))

    assert response.json()["accepted"] == 2
    assert InferenceSession.objects.get().has_crash is True
    assert CrashReport.objects.get().inference_session == InferenceSession.objects.get()
    # Each row written once, with its index entries: stored flagged and linked, never updated afterwards.
    if connection.vendor == "postgresql":  # the links run inside one WITH statement: order of writes instead
        # The crash's version predates its group's counters (written right after the crash insert): its insert wrote
        # it, not the link statement that runs after the counters; likewise the session's predates the crash's.
        crash_written = _command_of("telemetry_crashreport")
        assert _command_of("telemetry_inferencesession") < crash_written < _command_of("telemetry_crashgroup")
    else:
        assert (
            sum(rows for table, rows in updates if table in ("telemetry_inferencesession", "telemetry_crashreport"))
            == 0
        )


def test_a_resent_session_with_its_first_crash_is_marked_by_the_crash(client, raw_key):
    event = session()
    post(client, raw_key, batch([event]))
    response = post(client, raw_key, batch([event, crash(session_id=event["session_id"])]))

    assert response.json()["accepted"] == 1 and response.json()["duplicates"] == 1
    assert InferenceSession.objects.get().has_crash is True
    assert CrashReport.objects.get().inference_session == InferenceSession.objects.get()


def test_a_rejected_crash_does_not_mark_its_session(client, raw_key):
    event = session()
    response = post(client, raw_key, batch([event, crash(session_id=event["session_id"], runtime="no-such-runtime")]))

    assert [item["index"] for item in response.json()["rejected"]] == [1]
    assert InferenceSession.objects.get().has_crash is False


def test_clock_two_hours_behind_is_shifted_by_the_difference(client, raw_key):
    skew = timedelta(hours=2)
    device_now = now() - skew
    event = session(at=device_now - timedelta(minutes=10))
    post(client, raw_key, batch([event], sent_at=device_now))
    stored = InferenceSession.objects.get()
    assert stored.clock_flag == ClockFlag.SHIFTED
    assert abs(stored.started_at - (device_now - timedelta(minutes=10) + skew)) < timedelta(seconds=5)
    assert abs(stored.clock_offset_s - skew.total_seconds()) < 5


def test_small_skew_is_left_alone(client, raw_key):
    at = now() - timedelta(minutes=20)
    post(client, raw_key, batch([session(at=at)], sent_at=now() - timedelta(minutes=30)))
    stored = InferenceSession.objects.get()
    assert stored.clock_flag == ClockFlag.OK and stored.started_at == at.replace(
        microsecond=at.microsecond // 1000 * 1000
    )


@pytest.mark.parametrize("when", [timedelta(hours=3), -timedelta(days=400)])
def test_future_or_too_old_times_are_clamped_to_receive_time_and_flagged(client, raw_key, when):
    before = now()
    event = session(at=now() + when)
    post(client, raw_key, batch([event]))
    stored = InferenceSession.objects.get()
    assert stored.clock_flag == ClockFlag.CLAMPED
    assert stored.started_at == stored.received_at and stored.received_at >= before - timedelta(seconds=1)
    device_time = stored.started_at - timedelta(seconds=stored.clock_offset_s)  # the device's own time is kept
    assert abs(device_time - datetime.fromisoformat(event["started_at"])) < timedelta(milliseconds=1)


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
    for start in ("SELECT 'm', '', slug, id", "SELECT session_id, id", "SELECT a.fingerprint", "WITH linked AS",
                  'INSERT INTO "telemetry_device"', "WITH s (fingerprint", "WITH c (id, events",
                  'INSERT INTO "telemetry_rollupdirtyhour"'):  # fmt: skip
        assert sum(statement.startswith(start) for statement in prepared) == 1, (start, prepared)


def test_query_count_does_not_grow_with_batch_size(client, raw_key):
    post(client, raw_key, batch([session(), crash()]))  # device, versions and key's last_used_at already written

    def queries_for(size: int) -> int:
        events = [session() for _ in range(size)] + [crash(), crash(frames=[])]
        with CaptureQueriesContext(connection) as captured:
            assert post(client, raw_key, batch(events)).json()["accepted"] == size + 2
        return len(captured)

    small, large = queries_for(5), queries_for(300)
    # Pinned: auth, savepoint and release, one catalog read, device, sessions and crashes (PostgreSQL: a COPY of the
    # event keys and one of the rows each; SQLite: key check, key insert, row insert each), the sessions' partials,
    # group aliases, group lock, pairs + counters and session-crash links (PostgreSQL: one statement each; SQLite:
    # two each), dirty hours (PostgreSQL: one upsert; SQLite: the marked hours, the ones due a re-queue, the write).
    assert small == large == (15 if connection.vendor == "postgresql" else 21)


def test_schema_describes_the_ingest_contract(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/ingest/"]["post"]
    assert set(operation["responses"]) == {"202", "400", "401", "403", "413", "415", "429", "503"}
    batch_schema = schema["components"]["schemas"]["IngestBatchRequest"]
    assert set(batch_schema["required"]) == {"device", "events"}
    event_schema = schema["components"]["schemas"]["IngestEventRequest"]
    assert event_schema["discriminator"]["propertyName"] == "type"
    accepted = schema["components"]["schemas"]["IngestAccepted"]
    assert set(accepted["properties"]) == {"accepted", "duplicates", "rejected"}


def test_stored_hours_and_late_crash_sessions_hour_are_marked_for_rollup(client, raw_key):
    three_hours_ago = now() - timedelta(hours=3)
    event = session(at=three_hours_ago)
    post(client, raw_key, batch([event]))
    assert list(RollupDirtyHour.objects.values_list("hour", flat=True)) == [hour_floor(three_hours_ago)]
    RollupDirtyHour.objects.all().delete()

    post(client, raw_key, batch([crash(session_id=event["session_id"])]))

    dirty = set(RollupDirtyHour.objects.values_list("hour", flat=True))
    assert hour_floor(three_hours_ago) in dirty  # the session's hour: its crash-free count changed


def test_batch_mixing_stored_and_new_events_stores_and_marks_only_the_new_ones(client, raw_key):
    stored, stored_crash = session(at=now() - timedelta(hours=5)), crash(at=now() - timedelta(hours=6))
    post(client, raw_key, batch([stored, stored_crash]))
    RollupDirtyHour.objects.all().delete()
    two_hours_ago, three_hours_ago = now() - timedelta(hours=2), now() - timedelta(hours=3)
    new, new_crash = session(at=two_hours_ago), crash(at=three_hours_ago)

    response = post(client, raw_key, batch([stored, new, stored_crash, new_crash]))

    assert response.json() == {"accepted": 2, "duplicates": 2, "rejected": []}
    assert InferenceSession.objects.count() == 2 and CrashReport.objects.count() == 2
    assert CrashReport.objects.get(event_id=new_crash["event_id"]).group.event_count == 2
    dirty = set(RollupDirtyHour.objects.values_list("hour", flat=True))
    assert dirty == {hour_floor(two_hours_ago), hour_floor(three_hours_ago)}


def test_minus_zero_bucket_key_is_rejected_like_the_sdk_does(client, raw_key):
    event = session(latency_histogram={"gamma": 1.0202020202020203, "counts": {"-0": 1, "0": 2}})
    body = post(client, raw_key, batch([event])).json()
    assert body["accepted"] == 0 and list(body["rejected"][0]["errors"]) == ["latency_histogram"]


def test_nul_characters_reject_only_their_events_and_name_the_field(client, raw_key):
    # PostgreSQL text and jsonb refuse U+0000: once a 500 for the whole batch, now the event is rejected by index.
    frames = [{"function": "run\x00", "module": "libx.so", "in_app": True}]
    events = [session(), crash(message="boom\x00bang"), crash(frames=frames), session(fallback_ops=["CONV\x00"])]
    events.append(session(thermal_state="a\\u0000b"))  # an escaped backslash, not a NUL: stored as sent
    response = post(client, raw_key, batch(events), gzipped=True)
    body = response.json()
    assert (response.status_code, body["accepted"]) == (202, 2)
    assert [(item["index"], item["errors"]) for item in body["rejected"]] == [
        (1, {"message": ["contains a NUL character (\\u0000), which cannot be stored"]}),
        (2, {"frames[0].function": ["contains a NUL character (\\u0000), which cannot be stored"]}),
        (3, {"fallback_ops[0]": ["contains a NUL character (\\u0000), which cannot be stored"]}),
    ]
    assert InferenceSession.objects.filter(thermal_state="a\\u0000b").count() == 1
    assert CrashReport.objects.count() == 0


def test_nul_character_in_the_device_refuses_the_batch(client, raw_key):
    payload = batch([session()])
    payload["device"]["firmware"] = "AP4A\x00"
    response = post(client, raw_key, payload)
    assert response.status_code == 400
    assert response.json()["detail"] == {
        "device.firmware": ["contains a NUL character (\\u0000), which cannot be stored"]
    }
    assert not Device.objects.exists() and not InferenceSession.objects.exists()
