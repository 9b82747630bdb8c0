"""Ingest under failure: concurrent resends, the database dying mid-batch, one bad item among many good ones."""

import threading

import psycopg
import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from compat.models import ModelVersion
from telemetry.models import CrashGroup, CrashReport, Device, InferenceSession
from tests.conftest import database_url_for_test_db
from tests.telemetry.ingest_factories import batch, crash, post, session


@pytest.mark.django_db
def test_one_bad_item_among_999_good_ones_rejects_only_that_item(client, raw_key):
    events = [session() for _ in range(999)]
    events.insert(500, session(duration_s="long"))
    response = post(client, raw_key, batch(events), gzipped=True)
    body = response.json()
    assert (response.status_code, body["accepted"], body["duplicates"]) == (202, 999, 0)
    assert [(item["index"], list(item["errors"])) for item in body["rejected"]] == [(500, ["duration_s"])]
    assert InferenceSession.objects.count() == 999


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_batches_at_the_same_moment_store_each_event_once(raw_key):
    payload = batch([session() for _ in range(300)] + [crash() for _ in range(5)], uid="racer-1")
    start, results = threading.Barrier(2), []

    def send() -> None:
        try:
            client = APIClient()
            start.wait()
            response = post(client, raw_key, payload, gzipped=True)
            results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in results] == [202, 202]
    assert sorted(body["accepted"] for _, body in results) == [0, 305]
    assert sorted(body["duplicates"] for _, body in results) == [0, 305]
    assert InferenceSession.objects.count() == 300 and CrashReport.objects.count() == 5
    group = CrashGroup.objects.get()
    assert (group.event_count, group.device_count) == (5, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_dying_mid_batch_is_503_nothing_half_stored_and_a_retry_lands_once(raw_key):
    client = APIClient()
    payload = batch([session(model_version="9.9.9") for _ in range(50)] + [crash()], uid="victim-1")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend_pid,) = cursor.fetchone()

    def kill_after_device_upsert(execute, sql, params, many, context):
        # The batch is half written (new model version, device) when the server loses it, before its sessions.
        result = execute(sql, params, many, context)
        if 'INSERT INTO "telemetry_device"' in sql:
            with psycopg.connect(database_url_for_test_db(), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])
        return result

    with connection.execute_wrapper(kill_after_device_upsert):
        response = post(client, raw_key, payload, gzipped=True)

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    connection.close()  # what Django does at the end of a request whose connection broke
    assert not Device.objects.filter(uid="victim-1").exists()
    assert not InferenceSession.objects.exists() and not CrashReport.objects.exists()
    assert not ModelVersion.objects.filter(version="9.9.9").exists()

    retry = post(client, raw_key, payload, gzipped=True)
    again = post(client, raw_key, payload, gzipped=True)
    assert retry.json() == {"accepted": 51, "duplicates": 0, "rejected": []}
    assert again.json() == {"accepted": 0, "duplicates": 51, "rejected": []}
    assert InferenceSession.objects.count() == 50 and CrashGroup.objects.get().event_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_database_unreachable_is_503_with_retry_after(raw_key):
    client = APIClient()
    settings_dict = connection.settings_dict
    real_port = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = "1"  # nothing listens there: connecting fails like a stopped server
    try:
        response = post(client, raw_key, batch([session()]))
    finally:
        connection.close()
        settings_dict["PORT"] = real_port
    assert response.status_code == 503
    assert response.json()["error"] == "database unavailable, retry later"
    assert int(response["Retry-After"]) > 0
    assert not InferenceSession.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_holds_its_crash_groups_against_triage_but_not_against_other_batches_until_its_end(raw_key):
    client = APIClient()
    post(client, raw_key, batch([crash()], uid="first-1"))  # the group exists, committed
    group_id = CrashGroup.objects.get().pk
    probes = []

    def probe_locks_once_crashes_are_stored(execute, sql, params, many, context):
        if sql.startswith("WITH linked AS") and not probes:  # the batch's crashes are in, its counters not yet
            with psycopg.connect(database_url_for_test_db(), autocommit=True) as other:
                for mode in ("FOR NO KEY UPDATE", "FOR UPDATE"):  # another batch's counters; a merge or triage
                    try:
                        other.execute(f"SELECT id FROM telemetry_crashgroup WHERE id = %s {mode} NOWAIT", [group_id])
                        probes.append((mode, "free"))
                    except psycopg.errors.LockNotAvailable:
                        probes.append((mode, "held"))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(probe_locks_once_crashes_are_stored):
        response = post(client, raw_key, batch([session(), crash(), crash()], uid="second-1"))

    assert response.json()["accepted"] == 3
    assert probes == [("FOR NO KEY UPDATE", "free"), ("FOR UPDATE", "held")]
    group = CrashGroup.objects.get()
    assert (group.event_count, group.device_count) == (3, 2)
