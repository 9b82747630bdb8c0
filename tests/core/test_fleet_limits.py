"""Tenants apart on reads: a fleet-bound read key and a user an admin limited to fleets read their fleets' devices
only, and no fleet-wide figure (those are summed over every fleet)."""

import pytest
from rest_framework.test import APIClient

from core.models import FleetLimit
from tests.telemetry.fleet_factories import catalog_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleets():
    c = catalog_make()
    return {
        "a": [device_make(c, uid="a-0001", fleet="acme"), device_make(c, uid="a-0002", fleet="acme")],
        "b": [device_make(c, uid="b-0001", fleet="globex")],
    }


def _key_client(make_api_key, *, fleet: str = "") -> APIClient:
    from core.services import api_key_create

    _, raw = api_key_create(name=f"read {fleet or 'all'}", scopes=["read"], fleet=fleet)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_a_fleet_bound_read_key_lists_and_opens_only_its_fleets_devices(fleets, make_api_key):
    client = _key_client(make_api_key, fleet="acme")
    listed = client.get("/api/v1/telemetry/devices/").json()
    assert [d["uid"] for d in listed["results"]] == ["a-0001", "a-0002"] and listed["count"] == 2
    assert client.get("/api/v1/telemetry/devices/a-0001/").status_code == 200
    assert client.get("/api/v1/telemetry/devices/b-0001/").status_code == 404  # not even that it exists
    assert client.get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "url", ["/api/v1/telemetry/kpis/", "/api/v1/telemetry/crash-groups/", "/api/v1/home/", "/api/v1/compat/entries/"]
)
def test_a_fleet_bound_read_key_reads_no_fleet_wide_figure(fleets, make_api_key, url):
    response = _key_client(make_api_key, fleet="acme").get(url)
    assert response.status_code == 403
    assert response.json() == {"error": "permission_denied", "detail": response.json()["detail"]}
    assert "limited to some fleets" in response.json()["detail"]


def test_an_unbound_read_key_still_reads_every_fleet(fleets, make_api_key):
    client = _key_client(make_api_key)
    assert client.get("/api/v1/telemetry/devices/").json()["count"] == 3
    assert client.get("/api/v1/telemetry/kpis/").status_code == 200


def test_a_user_limited_to_a_fleet_finds_only_its_devices_and_no_dashboard(client, fleets, viewer_user):
    FleetLimit.objects.create(user=viewer_user, fleets=["globex"])
    client.force_login(viewer_user)
    search = client.get("/fleet/devices/", {"q": "000", "go": "list"})
    assert search.status_code == 200 and [d.uid for d in search.context["devices"]] == ["b-0001"]
    page = client.get("/fleet/devices/b-0001/")
    assert page.status_code == 200 and page.context["kpi_rows"] is None  # the cohort is every fleet's
    assert client.get("/fleet/devices/a-0001/").status_code == 404
    for url in ("/", "/fleet/", "/compat/", "/crashes/", "/rollouts/", "/benchmarks/"):
        assert client.get(url).status_code == 403, url
    api = APIClient()
    api.force_login(viewer_user)
    assert [d["uid"] for d in api.get("/api/v1/telemetry/devices/").json()["results"]] == ["b-0001"]
    assert api.get("/api/v1/telemetry/kpis/").status_code == 403


def test_a_user_without_a_limit_keeps_every_page(client, fleets, viewer_user):
    client.force_login(viewer_user)
    assert client.get("/fleet/devices/a-0001/").status_code == 200
    assert client.get("/fleet/").status_code == 200
    assert [d.uid for d in client.get("/fleet/devices/", {"q": "000", "go": "list"}).context["devices"]] == [
        "a-0001",
        "a-0002",
        "b-0001",
    ]


def test_a_limited_user_cannot_triage_or_roll_out_through_the_api_either(fleets, support_user):
    FleetLimit.objects.create(user=support_user, fleets=["acme"])
    api = APIClient()
    api.force_login(support_user)
    response = api.patch("/api/v1/telemetry/crash-groups/1/", {"status": "resolved"}, format="json")
    assert response.status_code == 403 and "limited to some fleets" in response.json()["detail"]
    assert api.post("/api/v1/rollouts/", {}, format="json").status_code == 403


def test_a_fleet_bound_key_never_changes_a_rollout(fleets):
    from core.services import api_key_create

    _, raw = api_key_create(name="release tool", scopes=["rollouts:write", "read"], fleet="acme")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.post("/api/v1/rollouts/", {}, format="json").status_code == 403


def test_a_limit_set_or_lifted_applies_to_the_next_request_and_costs_no_query_per_page(
    client, fleets, viewer_user, django_assert_num_queries
):
    from core.fleets import fleets_allowed

    client.force_login(viewer_user)
    assert client.get("/fleet/").status_code == 200  # caches "every fleet"
    limit = FleetLimit.objects.create(user=viewer_user, fleets=["acme"])
    assert client.get("/fleet/").status_code == 403  # the change cleared the cache at once
    limit.delete()
    assert client.get("/fleet/").status_code == 200

    class Request:  # a fresh request object per page: the limit comes from the cache, not a query
        auth = None
        user = type(viewer_user).objects.get(pk=viewer_user.pk)

    with django_assert_num_queries(0):
        assert fleets_allowed(Request()) is None
