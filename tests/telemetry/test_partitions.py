"""Day-partitioned raw tables (docs/partitioning.md): event_id dedupe through the key tables whatever partition a
resend's corrected time falls in, crash linking and rollups across partitions, partitions made ahead, retention."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test import override_settings

from telemetry.ingest.service import session_batch_ingest
from telemetry.models import CrashEventKey, CrashReport, HourlyRollup, InferenceSession, SessionEventKey
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.partitions import day_partitions, raw_partitions_ensure, table_partitioned
from telemetry.rollups.retention import raw_retention_enforce
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, crash, session

pytestmark = pytest.mark.django_db

SESSIONS, CRASHES = InferenceSession._meta.db_table, CrashReport._meta.db_table
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


@pytest.fixture
def api_key(ingest_key):
    catalog_make()
    return ingest_key[0]


def ingest(api_key, events, *, received_at: datetime, sent_at: datetime | None = None):
    body = json.dumps(batch(events, sent_at=sent_at or received_at)).encode()
    return session_batch_ingest(api_key=api_key, body=body, content_encoding=None, received_at=received_at)


def partition_of(table: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return cursor.fetchone()[0]


@pytest.fixture
def day_partitions_made(db):
    if connection.vendor == "postgresql":
        raw_partitions_ensure()


@pytest.mark.postgres
def test_a_fresh_postgresql_database_has_partitioned_raw_tables_with_a_default_partition():
    for table in (SESSIONS, CRASHES):
        assert table_partitioned(table)
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{table}_default"])
            assert cursor.fetchone()[0]


def test_sqlite_keeps_plain_tables():
    if connection.vendor == "postgresql":
        pytest.skip("the PostgreSQL layout is tested above")
    assert not table_partitioned(SESSIONS) and raw_partitions_ensure() == []


def test_resend_shifted_into_the_next_day_by_a_different_sent_at_is_a_duplicate(api_key, day_partitions_made):
    # The device's clock is right at the first send, 2 h slow at the resend: the corrected time moves past midnight.
    event = session(at=DAY + timedelta(hours=23, minutes=30))
    first = ingest(api_key, [event], received_at=DAY + timedelta(hours=23, minutes=45))
    late = DAY + timedelta(days=1, hours=10)
    resent = ingest(api_key, [event], received_at=late, sent_at=late - timedelta(hours=2))

    assert (first.accepted, first.duplicates, resent.accepted, resent.duplicates) == (1, 0, 0, 1)
    stored = InferenceSession.objects.get()
    assert stored.started_at == DAY + timedelta(hours=23, minutes=30)
    assert SessionEventKey.objects.get().day == DAY.date()
    if connection.vendor == "postgresql":
        assert partition_of(SESSIONS, stored.id) == f"{SESSIONS}_p{DAY:%Y%m%d}"


def test_resend_of_a_clamped_event_on_another_day_is_a_duplicate(api_key, day_partitions_made):
    # A time a day in the future is clamped to the receive time: a resend the next day would be clamped there.
    event, crashed = session(at=DAY + timedelta(days=5)), crash(at=DAY + timedelta(days=5))
    ingest(api_key, [event, crashed], received_at=DAY + timedelta(hours=23, minutes=59))
    resent = ingest(api_key, [event, crashed], received_at=DAY + timedelta(days=1, hours=1))

    assert (resent.accepted, resent.duplicates) == (0, 2)
    assert InferenceSession.objects.count() == CrashReport.objects.count() == 1
    assert SessionEventKey.objects.count() == CrashEventKey.objects.count() == 1


def test_a_batch_mixing_a_resent_and_a_new_event_stores_only_the_new_one(api_key, day_partitions_made):
    old, new = session(at=DAY + timedelta(hours=3)), session(at=DAY + timedelta(hours=4))
    ingest(api_key, [old], received_at=DAY + timedelta(hours=5))
    result = ingest(api_key, [old, new], received_at=DAY + timedelta(days=1, hours=5))

    assert (result.accepted, result.duplicates) == (1, 1)
    assert sorted(map(str, InferenceSession.objects.values_list("event_id", flat=True))) == sorted(
        [old["event_id"], new["event_id"]]
    )


def test_a_crash_links_to_its_session_stored_days_before_in_another_partition(api_key, day_partitions_made):
    earlier = session(at=DAY + timedelta(hours=1))
    ingest(api_key, [earlier], received_at=DAY + timedelta(hours=2))
    ingest(api_key, [crash(session_id=earlier["session_id"], at=DAY + timedelta(days=1, hours=1))],
           received_at=DAY + timedelta(days=1, hours=2))  # fmt: skip
    same_batch = session(at=DAY + timedelta(days=1, hours=3))
    ingest(api_key, [same_batch, crash(session_id=same_batch["session_id"])],
           received_at=DAY + timedelta(days=1, hours=4))  # fmt: skip

    for sent in (earlier, same_batch):
        stored = InferenceSession.objects.get(event_id=sent["event_id"])
        assert stored.has_crash
        assert CrashReport.objects.get(session_id=sent["session_id"]).inference_session_id == stored.id


def test_rollups_read_sessions_by_their_started_at_hour_across_day_partitions(api_key, day_partitions_made):
    hour = DAY + timedelta(hours=23)
    sessions = [session(at=hour + timedelta(minutes=m)) for m in (5, 50)] + [session(at=hour + timedelta(hours=1))]
    ingest(api_key, sessions, received_at=DAY + timedelta(days=1, hours=2))
    with override_settings(RAW_RETENTION_DAYS=36_500):
        rollup_hours_compute(hours=[hour, hour + timedelta(hours=1)], push_evidence=False)

    by_hour = dict(HourlyRollup.objects.values_list("bucket_start").annotate(n=Sum("sessions")))
    assert by_hour == {hour: 2, hour + timedelta(hours=1): 1}  # brute force: the minutes above


@pytest.mark.postgres
@override_settings(RAW_RETENTION_DAYS=3, RAW_PARTITIONS_AHEAD_DAYS=2)
def test_partitions_are_made_from_the_cutoff_to_days_ahead_and_take_their_rows_out_of_the_default(api_key):
    ingest(api_key, [session(at=DAY + timedelta(hours=6))], received_at=DAY + timedelta(hours=7))
    assert partition_of(SESSIONS, InferenceSession.objects.get().id) == f"{SESSIONS}_default"

    now = DAY + timedelta(days=1, hours=12)
    created = raw_partitions_ensure(now=now)

    days = [(now - timedelta(days=3)).date() + timedelta(days=n) for n in range(3 + 1 + 2)]
    assert sorted(day_partitions(SESSIONS)) == sorted(day_partitions(CRASHES)) == days
    assert len(created) == 2 * len(days)
    assert partition_of(SESSIONS, InferenceSession.objects.get().id) == f"{SESSIONS}_p{DAY:%Y%m%d}"
    assert raw_partitions_ensure(now=now) == []  # idempotent


@pytest.mark.postgres
@override_settings(RAW_RETENTION_DAYS=30)
def test_retention_drops_whole_old_partitions_and_clears_crash_links_into_them(api_key):
    now = DAY + timedelta(hours=12)
    old_day, kept_day = DAY - timedelta(days=31), DAY - timedelta(days=29)
    raw_partitions_ensure(now=now - timedelta(days=2))  # makes the old day's partition too
    old, kept = session(at=old_day + timedelta(hours=1)), session(at=kept_day + timedelta(hours=1))
    with override_settings(RAW_RETENTION_DAYS=36_500):
        ingest(api_key, [old, kept], received_at=kept_day + timedelta(hours=2))
        # A crash a day after its session: the session's partition goes, the crash's stays.
        ingest(api_key, [crash(session_id=old["session_id"], at=kept_day + timedelta(hours=1))],
               received_at=kept_day + timedelta(hours=3))  # fmt: skip
    assert CrashReport.objects.get().inference_session_id is not None

    deleted = raw_retention_enforce(now=now)

    assert (deleted["sessions"], deleted["crashes"]) == (1, 0)
    assert list(InferenceSession.objects.values_list("event_id", flat=True)) == [uuid.UUID(kept["event_id"])]
    assert f"{SESSIONS}_p{old_day:%Y%m%d}" not in day_partitions(SESSIONS).values()
    assert CrashReport.objects.get().inference_session_id is None
    # The old session's key outlives its partition by a day, then goes.
    assert SessionEventKey.objects.count() == 2
    deleted = raw_retention_enforce(now=now + timedelta(days=1))
    assert deleted["event_keys"] == 1 and SessionEventKey.objects.count() == 1


@override_settings(RAW_RETENTION_DAYS=30)
def test_retention_deletes_old_rows_and_their_keys_on_plain_tables_too(api_key):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's DELETE path")
    old = session(at=DAY - timedelta(days=31))
    with override_settings(RAW_RETENTION_DAYS=36_500):
        ingest(api_key, [old, session(at=DAY)], received_at=DAY + timedelta(hours=1))
    deleted = raw_retention_enforce(now=DAY + timedelta(days=1, hours=2))
    assert (deleted["sessions"], deleted["event_keys"]) == (1, 1)
    assert InferenceSession.objects.count() == SessionEventKey.objects.count() == 1


def test_partitions_are_made_ahead_by_a_beat_task(db):
    from edgeportal.celery import app
    from telemetry.tasks import raw_partitions_ensure_task

    assert raw_partitions_ensure_task.name in {entry["task"] for entry in app.conf.beat_schedule.values()}
    made = raw_partitions_ensure_task.delay().get()
    if connection.vendor == "postgresql":
        assert made == 2 * len(day_partitions(SESSIONS)) > 0
        assert max(day_partitions(SESSIONS)) == datetime.now(UTC).date() + timedelta(days=7)
    else:
        assert made == 0
