"""Every telemetry read URL and fleet page answers hostile query values with a 4xx naming the parameter (or the
page's error line), never a 5xx; a device uid with a '/' (stored before ingest restricted uids) still routes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from telemetry.kpi.scope import FILTER_LOOKUPS
from telemetry.rollups.compute import rollup_range_compute

from .fleet_factories import catalog_make, device_make
from .rollup_factories import crash_make, session_make

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = [
    "%",
    "100%",
    "a\x00b",
    "2026-11-20T10:00:00+23:59",
    "2026-11-20T10:00:00-16:00",
    "9999-12-31",
    "9999-12-31T23:59:59Z",
    "0001-01-01",
    "99999999999999999999",
    "-1",
    "²",
    "1e309",
    "'; select 1; --",
    "a/b",
    "x" * 5000,
]
PARAMS = ["from", "to", "range", "q", "page", "by", "sort", "a", "b", "status", "ordering", *FILTER_LOOKUPS]
API_URLS = ["/api/v1/telemetry/kpis/", "/api/v1/telemetry/devices/", "/api/v1/telemetry/crash-groups/"]
PAGE_URLS = ["/fleet/", "/fleet/compare/", "/fleet/devices/"]


@pytest.fixture
def fleet_with_a_slashed_uid():
    c = catalog_make()
    now = timezone.now()
    device = device_make(c, device_model=c.pixel)
    device.uid = "legacy/uid with space"  # what ingest accepted before uids were restricted
    device.save(update_fields=["uid"])
    crash_make(c, session=session_make(c, device=device, at=now - timedelta(hours=2), samples=[10.0]))
    rollup_range_compute(start=now - timedelta(hours=3), end=now)
    return device


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("url", API_URLS)
def test_hostile_values_on_the_read_api_are_never_a_server_error(read_client, fleet_with_a_slashed_uid, url, value):
    for names in (PARAMS[:9], PARAMS[9:]):  # in two requests: the list endpoints judge all parameters at once
        response = read_client.get(url, dict.fromkeys(names, value))
        assert response.status_code < 500, (names, value, response.content[:300])


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("url", PAGE_URLS)
def test_hostile_values_on_the_fleet_pages_are_never_a_server_error(
    client, viewer_user, fleet_with_a_slashed_uid, url, value
):
    client.force_login(viewer_user)
    for name in PARAMS:  # one by one: a page ignores a bad filter and shows the next one
        response = client.get(url, {name: value})
        assert response.status_code < 500, (name, value)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"device_model": "a\x00b"}, "device_model"),
        ({"to": "2026-11-20T10:00:00+23:59"}, "to"),
        ({"from": "9999-12-31"}, "from"),
        ({"tier": "99999999999999999999"}, "tier"),
    ],
)
def test_the_kpi_api_names_the_bad_parameter(read_client, params, name):
    response = read_client.get("/api/v1/telemetry/kpis/", params)
    assert response.status_code == 400
    body = response.json()
    assert name in (body["detail"] if "detail" in body else body)


def test_a_device_with_a_slash_in_its_uid_is_listed_linked_and_shown(client, viewer_user, read_client,
                                                                     fleet_with_a_slashed_uid):  # fmt: skip
    client.force_login(viewer_user)
    uid = fleet_with_a_slashed_uid.uid
    url = reverse("fleet:device", args=[uid])
    assert client.get("/fleet/devices/", {"q": "legacy", "go": "list"}).status_code == 200
    assert client.get(url).status_code == 200
    assert read_client.get(f"/api/v1/telemetry/devices/{uid}/").json()["uid"] == uid
    assert client.get("/fleet/").status_code == 200
