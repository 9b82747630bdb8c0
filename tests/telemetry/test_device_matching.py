"""One definition of device matching (telemetry.support.matching) behind the device page and the devices API."""

import pytest

from telemetry.support.matching import devices_matching
from tests.telemetry.fleet_factories import catalog_make, device_make

pytestmark = pytest.mark.django_db
DEVICES_URL = "/api/v1/telemetry/devices/"


@pytest.fixture
def fleet(db):
    c = catalog_make()
    return [
        device_make(c, uid="pixel8-008f3a1c", firmware="AP4A.250105.002"),
        device_make(c, uid="pixel8-0042aa", firmware="AP4A.250105.002"),
        device_make(c, uid="galaxy-77b9", firmware="S918BXXU3"),
    ]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("8F3A", ["pixel8-008f3a1c"]),  # a middle fragment, other case
        ("pixel8-00", ["pixel8-0042aa", "pixel8-008f3a1c"]),  # a prefix
        ("b9", ["galaxy-77b9"]),  # the end
        ("xxu3", ["galaxy-77b9"]),  # firmware
        ("nothing-like-it", []),
    ],
)
def test_any_part_of_uid_or_firmware_matches(fleet, q, expected):
    assert sorted(devices_matching(q).values_list("uid", flat=True)) == expected


def test_page_finds_a_device_by_a_middle_fragment(client, viewer_user, fleet, django_assert_num_queries):
    client.force_login(viewer_user)
    with django_assert_num_queries(3):  # session, user, devices
        response = client.get("/fleet/devices/?q=8F3A")
    assert response.status_code == 302 and response["Location"] == "/fleet/devices/pixel8-008f3a1c/"


def test_page_lists_several_matches_with_pinned_queries(client, viewer_user, fleet, django_assert_num_queries):
    client.force_login(viewer_user)
    with django_assert_num_queries(4):  # session, user, devices, the header's role
        response = client.get("/fleet/devices/?q=pixel8")
    assert [d.uid for d in response.context["devices"]] == ["pixel8-0042aa", "pixel8-008f3a1c"]


def test_an_exact_uid_goes_to_its_page_even_when_it_is_part_of_others(client, viewer_user, fleet):
    device_make(None, uid="pixel8-0042aa-2", device_model=fleet[0].device_model)
    client.force_login(viewer_user)
    response = client.get("/fleet/devices/?q=PIXEL8-0042AA")
    assert response.status_code == 302 and response["Location"] == "/fleet/devices/pixel8-0042aa/"


def test_api_finds_the_same_devices_as_the_page(read_client, client, viewer_user, fleet, django_assert_num_queries):
    with django_assert_num_queries(4):  # key lookup, its last_used_at touch, count, page
        assert read_client.get(DEVICES_URL, {"q": "8f3a"}).json()["count"] == 1
    client.force_login(viewer_user)
    for q in ("8F3A", "pixel8-00", "xxu3"):
        page = client.get("/fleet/devices/", {"q": q, "go": "list"}).context["devices"]
        api = read_client.get(DEVICES_URL, {"q": q}).json()["results"]
        assert sorted(row["uid"] for row in api) == sorted(device.uid for device in page)
