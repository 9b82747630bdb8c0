"""POST /api/v1/ingest/ as API.md describes it: statuses, partial success, idempotency, slugs, clocks, limits."""

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compat.models import ModelVersion, RuntimeVersion
from edgeportal_client.histogram import LatencyHistogram
from telemetry.kpi.buckets import hour_floor
from telemetry.models import ClockFlag, CrashReport, Device, InferenceSession, RollupDirtyHour
from tests.telemetry.ingest_factories import batch, crash, now, post, session

pytestmark = pytest.mark.django_db


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
