"""Against a real streaming replica (scripts/replica.sh start): which connection serves what, and the lag.

The replica mirrors the whole primary cluster, so the rows are the same on both: what proves routing is which
connection ran a query (and that it is a standby), or a page showing the replica's older state while its replay
is paused. The tests are transactional: a replica sees only committed rows.
"""

import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from compat.models import CompatEntry
from edgeportal.replica import replica_reads
from telemetry.models import CrashGroup
from tests.conftest import REPLICA_URL

from ..telemetry.fleet_factories import catalog_make, crash_group_make, device_make

# Every database: with DATABASE_REPLICA_URL set for the run, the `replica` alias is one Django would otherwise
# refuse in a test that did not declare it.
pytestmark = [pytest.mark.replica, pytest.mark.django_db(transaction=True, databases="__all__")]


def caught_up(replica, timeout_s: float = 15.0) -> None:
    """Waits until the replica has replayed everything the primary has written so far."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (lsn,) = cursor.fetchone()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with replica.cursor() as cursor:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    pytest.fail(f"the replica did not replay up to {lsn} in {timeout_s} s")


@pytest.fixture
def standby(replica_alias):
    replica = replica_alias(REPLICA_URL)
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone()[0], f"{REPLICA_URL} is not a standby"
    yield replica
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")  # whatever the test did: the replica must keep up


def replay_pause(replica) -> None:
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")


def replay_resume(replica) -> None:
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")


def replica_sql(captured: CaptureQueriesContext) -> str:
    return "\n".join(query["sql"] for query in captured.captured_queries)


@pytest.fixture
def c():
    return catalog_make()


@pytest.fixture
def group(c):
    return crash_group_make(c, devices=[device_make(c)], title="GPU delegate abort")


def test_pages_exports_and_the_read_api_read_the_replica_and_identity_the_primary(
    client, viewer_user, read_client, c, group, standby
):
    CompatEntry.objects.create(model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel)
    caught_up(standby)
    client.force_login(viewer_user)
    with CaptureQueriesContext(standby) as page:
        assert client.get(f"/crashes/{group.pk}/").status_code == 200
    with CaptureQueriesContext(standby) as export:
        response = client.get("/compat/export.csv")
        body = b"".join(response.streaming_content)  # rows are read while the server iterates
    with CaptureQueriesContext(standby) as api:
        assert read_client.get("/api/v1/telemetry/crash-groups/").json()["count"] == 1
    assert "telemetry_crashgroup" in replica_sql(page)
    assert "compat_compatentry" in replica_sql(export) and body.count(b"\n") == 2
    assert "telemetry_crashgroup" in replica_sql(api)
    # Who you are is decided on the primary: sessions, users, roles and API keys are never read from a copy (a
    # crash group's assignee joined in for display is a figure, not a permission).
    for table in ("django_session", "auth_user", "auth_group", "edgeportal_apikey", "edgeportal_fleetlimit"):
        assert f'FROM "{table}"' not in replica_sql(page) + replica_sql(api)


def test_the_triager_reads_their_own_write_while_others_read_the_lagging_replica(
    client, support_user, viewer_user, group, standby
):
    from django.test import Client

    caught_up(standby)
    replay_pause(standby)
    client.force_login(support_user)
    with CaptureQueriesContext(standby) as triage:
        response = client.post(f"/crashes/{group.pk}/triage/", {"action": "acknowledge"})
    assert response.status_code == 302 and "edgeportal_primary" in response.cookies
    assert triage.captured_queries == []  # the write and the reads around it: all on the primary
    assert CrashGroup.objects.get().status == "triaged"

    with CaptureQueriesContext(standby) as own:
        mine = client.get(f"/crashes/{group.pk}/")
    assert own.captured_queries == [] and mine.context["group"].status == "triaged"

    colleague = Client()
    colleague.force_login(viewer_user)
    with CaptureQueriesContext(standby) as theirs:
        stale = colleague.get(f"/crashes/{group.pk}/")
    assert "telemetry_crashgroup" in replica_sql(theirs)
    assert stale.context["group"].status == "new"  # the replica has not replayed the triage yet

    health = client.get("/readyz").json()["replica"]
    assert health["status"] == "ok" and health["lag_s"] > 0

    replay_resume(standby)
    caught_up(standby)
    assert colleague.get(f"/crashes/{group.pk}/").context["group"].status == "triaged"
    caught_up(standby)
    health = client.get("/readyz").json()["replica"]
    # Not exactly 0: the page views above wrote (session, last seen) and a commit being replayed counts from the
    # previous replayed commit's time.
    assert health["status"] == "ok" and 0 <= health["lag_s"] < 5 and health["max_lag_s"] == 30


def test_a_replica_further_behind_than_the_limit_is_skipped(client, viewer_user, group, standby, settings):
    caught_up(standby)
    replay_pause(standby)
    CrashGroup.objects.update(title="renamed on the primary")
    time.sleep(0.05)
    settings.REPLICA_MAX_LAG_S = 0
    assert client.get("/readyz").json()["replica"]["status"] == "lagging"  # measured now, kept for the router
    client.force_login(viewer_user)
    with CaptureQueriesContext(standby) as skipped:
        page = client.get(f"/crashes/{group.pk}/")
    assert skipped.captured_queries == [] and page.context["group"].title == "renamed on the primary"


def test_transactions_and_work_outside_a_request_never_read_the_replica(group, standby):
    caught_up(standby)
    with CaptureQueriesContext(standby) as outside:
        assert CrashGroup.objects.count() == 1  # a task, a rollup, a shell
        with replica_reads(), transaction.atomic():
            assert CrashGroup.objects.count() == 1  # a read beside writes: the primary
    assert outside.captured_queries == []
    with CaptureQueriesContext(standby) as routed, replica_reads():
        assert CrashGroup.objects.count() == 1
    assert "telemetry_crashgroup" in replica_sql(routed)
