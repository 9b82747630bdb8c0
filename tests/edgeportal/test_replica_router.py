"""Which requests may read the replica, and what the router sends where (no replica needed: the standby itself is
tested in test_replica_streaming.py)."""

import time

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from core.models import ApiKey, FleetLimit
from edgeportal import replica
from edgeportal.middleware import PIN_COOKIE, ReplicaReadsMiddleware
from telemetry.models import CrashGroup

UNREACHABLE = "postgres://postgres@127.0.0.1:1/portal"


@pytest.fixture
def usable_replica(replica_alias, monkeypatch):
    replica_alias(UNREACHABLE)  # never connected to: the last measurement below says it is current
    monkeypatch.setattr(replica, "_last_state", replica.ReplicaState(True, "ok", 0.0, measured_at=time.monotonic()))


def reads_on_replica_during(request, response=None) -> bool:
    seen = []

    def view(request):
        seen.append(replica._reads_on_replica.get())
        return response or HttpResponse("ok")

    ReplicaReadsMiddleware(view)(request)
    return seen[0]


def test_without_a_replica_nothing_is_routed_and_no_request_is_pinned():
    router = replica.ReplicaRouter()
    with replica.replica_reads():
        assert router.db_for_read(CrashGroup) is None
    assert reads_on_replica_during(RequestFactory().get("/fleet/")) is False
    response = ReplicaReadsMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().post("/crashes/1/triage/"))
    assert PIN_COOKIE not in response.cookies


def test_reads_of_a_replica_eligible_context_go_to_the_replica_but_identity_stays_on_the_primary(usable_replica):
    router = replica.ReplicaRouter()
    assert router.db_for_read(CrashGroup) is None  # no request context: a task, a rollup, a shell
    with replica.replica_reads():
        assert router.db_for_read(CrashGroup) == "replica"
        assert [router.db_for_read(model) for model in (User, Session, ApiKey, FleetLimit)] == [None] * 4
    assert router.db_for_write(CrashGroup, instance=CrashGroup(pk=1)) == "default"


def test_the_replica_gets_no_migrations_and_rows_from_either_copy_may_relate():
    router = replica.ReplicaRouter()
    assert router.allow_migrate("replica", "telemetry") is False
    assert router.allow_migrate("default", "telemetry") is None
    on_replica, on_primary = CrashGroup(), User()
    on_replica._state.db, on_primary._state.db = "replica", "default"
    assert router.allow_relation(on_replica, on_primary) is True


@pytest.mark.parametrize(
    ("method", "path", "on_replica"),
    [
        ("get", "/", True),
        ("get", "/fleet/", True),
        ("get", "/compat/export.csv", True),
        ("get", "/api/v1/telemetry/crash-groups/", True),
        ("head", "/crashes/", True),
        ("post", "/crashes/1/triage/", False),
        ("post", "/api/v1/ingest/", False),
        ("get", "/admin/telemetry/crashgroup/1/change/", False),
        ("get", "/api/v1/rollouts/assignment/", False),
    ],
)
def test_which_requests_read_the_replica(usable_replica, method, path, on_replica):
    assert reads_on_replica_during(getattr(RequestFactory(), method)(path)) is on_replica


def test_a_write_pins_its_client_to_the_primary_and_a_forged_pin_is_ignored(usable_replica, settings):
    written = ReplicaReadsMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().post("/crashes/1/triage/"))
    pin = written.cookies[PIN_COOKIE]
    assert pin["max-age"] == settings.REPLICA_PIN_S and pin["httponly"] and pin["samesite"] == "Lax"

    next_page = RequestFactory().get("/crashes/1/")
    next_page.COOKIES[PIN_COOKIE] = pin.value
    assert reads_on_replica_during(next_page) is False
    forged = RequestFactory().get("/crashes/1/")
    forged.COOKIES[PIN_COOKIE] = "1"
    assert reads_on_replica_during(forged) is True


def test_a_streamed_export_reads_the_replica_while_it_streams(usable_replica):
    seen = []

    def rows():
        for i in range(3):
            seen.append(replica._reads_on_replica.get())
            yield f"{i}\n"

    request = RequestFactory().get("/compat/export.csv")
    response = ReplicaReadsMiddleware(lambda request: StreamingHttpResponse(rows()))(request)
    assert replica._reads_on_replica.get() is False
    assert b"".join(response.streaming_content) == b"0\n1\n2\n"
    assert seen == [True, True, True] and replica._reads_on_replica.get() is False


# Outside a test transaction, where the router would consider the replica; every database, as in the replica tests.
@pytest.mark.django_db(transaction=True, databases="__all__")
def test_an_unreachable_replica_shows_on_readyz_and_pages_read_the_primary(client, viewer_user, replica_alias):
    replica_alias(UNREACHABLE)
    client.force_login(viewer_user)
    assert client.get("/crashes/").status_code == 200
    assert replica._last_state is not None and replica._last_state.status == "unreachable"
    response = client.get("/readyz")
    assert response.status_code == 200  # a replica down costs the pages nothing: they read the primary
    body = response.json()["replica"]
    assert body["status"] == "unreachable" and body["lag_s"] is None and "OperationalError" in body["error"]
