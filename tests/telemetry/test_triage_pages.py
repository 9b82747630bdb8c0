import pytest

from compat.models import CompatEntry
from telemetry.models import CrashGroup, CrashGroupAuditEvent

from .fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def test_list_filters_by_status_and_device_model_and_sorts_by_devices(client, viewer_user, c):
    pixel, galaxy = device_make(c), device_make(c, device_model=c.galaxy)
    big = crash_group_make(c, devices=[pixel, galaxy, device_make(c)], title="big")
    small = crash_group_make(c, devices=[galaxy], title="small", status="triaged")
    client.force_login(viewer_user)
    assert [g.pk for g in client.get("/crashes/?sort=devices").context["page"]] == [big.pk, small.pk]
    assert [g.pk for g in client.get("/crashes/?status=triaged").context["page"]] == [small.pk]
    filtered = client.get("/crashes/?device_model=samsung-galaxy-a54&sort=events").context["page"]
    assert [g.pk for g in filtered] == [big.pk, small.pk]


def test_list_filters_by_delegate_and_model_version(client, viewer_user, c):
    gpu_group = crash_group_make(c, devices=[device_make(c)], delegate=c.gpu)
    cpu_group = crash_group_make(c, devices=[device_make(c)], delegate=c.cpu, model_version=c.v2)
    client.force_login(viewer_user)
    assert [g.pk for g in client.get("/crashes/?delegate=cpu").context["page"]] == [cpu_group.pk]
    assert [g.pk for g in client.get("/crashes/?model=yolov8n&model_version=1.4.0").context["page"]] == [gpu_group.pk]


def test_list_query_count_is_pinned(client, viewer_user, c, django_assert_num_queries):
    for _ in range(5):
        crash_group_make(c, devices=[device_make(c)], assignee=viewer_user)
    client.force_login(viewer_user)
    client.get("/crashes/")
    with django_assert_num_queries(10):  # session, user, count, page, catalog selects (2, 4 before), 3 figures
        client.get("/crashes/")


def test_group_page_shows_breakdowns_stack_devices_and_cells(client, viewer_user, c):
    devices = [device_make(c), device_make(c, device_model=c.galaxy)]
    group = crash_group_make(c, devices=devices, crashes_per_device=2)
    cell = CompatEntry.objects.create(
        model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel
    )
    client.force_login(viewer_user)
    response = client.get(f"/crashes/{group.pk}/")
    assert response.status_code == 200
    detail = response.context["detail"]
    assert {row["label"]: row["events"] for row in detail.breakdowns["device_model"]} == {
        "Google Pixel 8": 2,
        "Samsung Galaxy A54": 2,
    }
    assert detail.sample is not None and b"tflite::gpu::Run" in response.content
    assert b"By OS version" in response.content and b"By device model" in response.content
    assert {d.pk for d in detail.devices} == {d.pk for d in devices}
    assert [entry.pk for entry, _ in response.context["cells"]] == [cell.pk]
    assert not response.context["can_triage"] and b"Acknowledge" not in response.content


def test_group_page_query_count_is_pinned(client, support_user, c, django_assert_num_queries):
    group = crash_group_make(c, devices=[device_make(c) for _ in range(5)], crashes_per_device=3)
    client.force_login(support_user)
    client.get(f"/crashes/{group.pk}/")
    with django_assert_num_queries(
        15
    ):  # 30 days = whole days: two grouped reads of the daily crash rollup, app versions
        client.get(f"/crashes/{group.pk}/")


def test_support_acknowledges_assigns_resolves_and_notes_through_the_page(client, support_user, c):
    group = crash_group_make(c, devices=[device_make(c)])
    client.force_login(support_user)
    url = f"/crashes/{group.pk}/triage/"
    client.post(url, {"action": "acknowledge"})
    client.post(url, {"action": "assign", "assignee": "support-sam"})
    client.post(url, {"action": "resolve", "resolved_in_version": "3.2.2"})
    response = client.post(url, {"action": "note", "body": "fixed by driver workaround"}, follow=True)
    group.refresh_from_db()
    assert (group.status, group.assignee, group.resolved_in_version) == ("resolved", support_user, "3.2.2")
    actions = list(
        CrashGroupAuditEvent.objects.filter(crash_group=group).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["acknowledge", "assign", "resolve", "note"]
    assert b"fixed by driver workaround" in response.content


def test_viewer_cannot_post_triage_actions(client, viewer_user, c):
    group = crash_group_make(c, devices=[device_make(c)])
    client.force_login(viewer_user)
    assert client.post(f"/crashes/{group.pk}/triage/", {"action": "ignore"}).status_code == 403
    group.refresh_from_db()
    assert group.status == "new"


def test_merge_through_the_page_redirects_to_the_survivor(client, support_user, c):
    target = crash_group_make(c, devices=[device_make(c)])
    source = crash_group_make(c, devices=[device_make(c)])
    client.force_login(support_user)
    response = client.post(f"/crashes/{target.pk}/triage/", {"action": "merge", "source": source.pk, "confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == f"/crashes/{target.pk}/"
    assert not CrashGroup.objects.filter(pk=source.pk).exists()
    assert client.get(f"/crashes/{source.pk}/").status_code == 404
