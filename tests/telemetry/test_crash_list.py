"""The crash list: time range, daily sparkline, share of the affected cohort (vs a brute-force count), export."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.kpi.buckets import DAY, day_floor, hour_floor
from telemetry.models import CrashReport, InferenceSession
from telemetry.rollups.compute import rollup_range_compute
from telemetry.support.crash_list import crash_groups_figures

from .fleet_factories import catalog_make, crash_group_make, device_make
from .rollup_factories import session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


@pytest.fixture
def fleet(c):
    """Six pixels and four galaxies active over three days; one group hits 2 pixels, one hits a pixel and a galaxy."""
    now = hour_floor(timezone.now())
    pixels = [device_make(c) for _ in range(6)]
    galaxies = [device_make(c, device_model=c.galaxy) for _ in range(4)]
    for day in range(3):
        for device in pixels + galaxies:
            session_make(c, device=device, at=now - timedelta(days=day, hours=1), samples=[10.0])
    rollup_range_compute(start=day_floor(now) - 3 * DAY, end=now + timedelta(hours=1))
    pixel_group = crash_group_make(c, devices=pixels[:2], at=now - timedelta(days=2, hours=1), title="pixel only")
    crash_group_make(c, devices=pixels[:1], crashes_per_device=3, at=now - timedelta(hours=1), rollup=True,
                     title="pixel again")  # fmt: skip
    mixed = crash_group_make(c, devices=[pixels[2], galaxies[0]], at=now - timedelta(hours=3), title="mixed")
    return {"now": now, "pixel_group": pixel_group, "mixed": mixed}


def _brute_force_share(group, *, start, end):
    """Devices with a crash of the group ÷ devices with a session on the device models it hit, from raw rows."""
    crashes = CrashReport.objects.filter(group=group, occurred_at__gte=start, occurred_at__lt=end)
    hit = {crash.device_id for crash in crashes}
    models = {crash.device_model_id for crash in crashes}
    sessions = InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end, device_model_id__in=models)
    return len(hit), len({session.device_id for session in sessions})


def test_cohort_share_equals_a_brute_force_count(fleet):
    now = fleet["now"]
    start, end = now - timedelta(days=7), now + timedelta(hours=1)
    groups = [fleet["pixel_group"], fleet["mixed"]]
    figures = crash_groups_figures(group_ids=[g.pk for g in groups], start=start, end=end)
    days_start, days_end = day_floor(start), day_floor(end) + DAY
    for group in groups:
        hit, active = _brute_force_share(group, start=days_start, end=days_end)
        assert (figures[group.pk].devices_hit, figures[group.pk].cohort_devices) == (hit, active)
    assert figures[fleet["pixel_group"].pk].cohort_share == pytest.approx(2 / 6)
    assert figures[fleet["mixed"].pk].cohort_share == pytest.approx(2 / 10)


def test_sparkline_counts_events_per_day_from_the_daily_rollups(fleet):
    now = fleet["now"]
    figures = crash_groups_figures(
        group_ids=[fleet["pixel_group"].pk], start=now - timedelta(days=6), end=now + timedelta(minutes=1)
    )
    figure = figures[fleet["pixel_group"].pk]
    assert len(figure.daily_events) == 7 and sum(figure.daily_events) == 2 == figure.events_in_range
    day = day_floor(now - timedelta(days=2, hours=1))
    assert figure.daily_events[(day - day_floor(now - timedelta(days=6))).days] == 2
    assert len(figure.sparkline_points.split()) == 7


def test_list_range_hides_groups_not_seen_in_it(client, viewer_user, fleet):
    client.force_login(viewer_user)
    titles = [g.title for g in client.get("/crashes/?range=24h").context["page"]]
    assert sorted(titles) == ["mixed", "pixel again"]
    assert len(client.get("/crashes/?range=7d").context["page"]) == 3


def test_list_shows_sparkline_and_share_with_pinned_queries(client, viewer_user, fleet, django_assert_num_queries):
    client.force_login(viewer_user)
    client.get("/crashes/")
    with django_assert_num_queries(10):  # session, user, role, count, page, catalog selects (2, 4 before), 3 figures
        response = client.get("/crashes/?range=7d")
    html = response.content.decode()
    assert html.count('<svg class="sparkline"') == 3 and "<script" not in html.split('id="main"')[1].split("</main>")[0]
    assert "33.3 %" in html and "(2 of 6)" in html and "20.0 %" in html


def test_export_has_the_list_filters_as_csv_and_json(client, viewer_user, fleet):
    client.force_login(viewer_user)
    body = client.get("/crashes/export.json?range=24h").json()
    assert sorted(row["title"] for row in body["results"]) == ["mixed", "pixel again"]
    mixed = next(row for row in body["results"] if row["title"] == "mixed")
    assert (mixed["devices_hit_in_range"], mixed["cohort_active_devices"]) == (2, 10)
    response = client.get("/crashes/export.csv?range=7d&q=pixel")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(row["title"] for row in rows) == ["pixel again", "pixel only"]
    assert client.get("/crashes/export.xml").status_code == 404


def test_list_keeps_paging_with_the_range(client, viewer_user, c):
    device = device_make(c)
    for i in range(55):
        crash_group_make(c, devices=[device], title=f"g{i}", rollup=False)
    client.force_login(viewer_user)
    response = client.get("/crashes/?range=7d&page=2")
    assert len(response.context["page"]) == 5
    assert "range=7d&amp;page=1" in response.content.decode() or "range=7d&page=1" in response.content.decode()


def test_group_page_breaks_down_by_app_version_and_links_each_row_onward(client, viewer_user, c):
    old, new = device_make(c, app_version="3.1.0"), device_make(c, device_model=c.galaxy, app_version="3.2.1")
    group = crash_group_make(c, devices=[old, new, device_make(c, app_version="3.2.1")])
    client.force_login(viewer_user)

    response = client.get(f"/crashes/{group.pk}/?range=7d")

    rows = response.context["detail"].breakdowns["app_version"]
    assert [(row["label"], row["events"]) for row in rows] == [("3.2.1", 2), ("3.1.0", 1)]
    html = response.content.decode()
    assert "/crashes/?app_version=3.2.1&amp;range=7d" in html and "/fleet/?app_version=3.1.0&amp;range=7d" in html
    assert "/crashes/?device_model=samsung-galaxy-a54&amp;range=7d" in html
    assert "/fleet/?model=yolov8n&amp;model_version=1.4.0&amp;range=7d" in html
    narrowed = client.get("/crashes/?app_version=3.1.0&range=7d").context["page"]
    assert [g.pk for g in narrowed] == [group.pk]


def test_custom_range_includes_groups_first_seen_on_its_last_day(client, viewer_user, c):
    day = day_floor(timezone.now()) - 3 * DAY
    group = crash_group_make(c, devices=[device_make(c)], at=day + timedelta(hours=12), rollup=False)
    client.force_login(viewer_user)
    to = day.strftime("%Y-%m-%d")
    page = client.get(f"/crashes/?range=custom&from={(day - 2 * DAY).strftime('%Y-%m-%d')}&to={to}").context["page"]
    assert [g.pk for g in page] == [group.pk]
