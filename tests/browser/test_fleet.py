from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.kpi.buckets import hour_floor
from telemetry.models import CrashGroup, CrashGroupAuditEvent
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry.fleet_factories import catalog_make, crash_group_make, device_make
from tests.telemetry.rollup_factories import session_make

from .conftest import screenshot


@pytest.fixture
def fleet(transactional_db):
    c = catalog_make()
    now = hour_floor(timezone.now())
    c.device = device_make(c, uid="pixel8-000042")
    galaxy = device_make(c, uid="galaxy-000007", device_model=c.galaxy)
    for hour in range(1, 30):
        session_make(c, device=c.device, at=now - timedelta(hours=hour), samples=[12.0, 14.0, 30.0], rss=210.0)
        session_make(c, device=galaxy, at=now - timedelta(hours=hour), samples=[140.0, 150.0], rss=320.0, errors=2)
    c.group = crash_group_make(c, devices=[c.device, galaxy], title="SIGSEGV in tflite gpu delegate")
    rollup_range_compute(start=now - timedelta(hours=31), end=now + timedelta(hours=1))
    return c


def test_support_finds_a_device_opens_its_crash_group_assigns_and_resolves_it(logged_in_page, support_user, fleet):
    page = logged_in_page("support-sam")
    page.goto("/fleet/devices/")
    page.get_by_label("Any part of the device uid or firmware").fill("EL8-000042")  # a middle fragment, any case
    page.keyboard.press("Enter")
    page.wait_for_url("**/fleet/devices/pixel8-000042/")
    screenshot(page, "fleet-device")
    page.get_by_role("link", name=f"#{fleet.group.pk} SIGSEGV in tflite gpu delegate").first.click()
    page.wait_for_url(f"**/crashes/{fleet.group.pk}/")
    page.get_by_label("Assign to").select_option("support-sam")
    page.get_by_role("button", name="Assign").click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Fixed in app version").fill("3.2.2")
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#assignee").inner_text() == "support-sam"
    assert "Resolved" in page.get_by_role("region", name="Summary").inner_text()
    assert "fixed in 3.2.2" in page.content()
    screenshot(page, "crash-group-resolved")
    group = CrashGroup.objects.get(pk=fleet.group.pk)
    assert (group.status, group.resolved_in_version) == ("resolved", "3.2.2")
    assert list(CrashGroupAuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["assign", "resolve"]


def test_pm_filters_fleet_health_to_one_cohort_and_every_chart_renders(logged_in_page, viewer_user, fleet):
    page = logged_in_page("pm-paula")
    page.goto("/fleet/?range=7d")
    page.get_by_label("Device model").select_option("samsung-galaxy-a54")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**device_model=samsung-galaxy-a54**")
    page.wait_for_selector("#chart-latency .main-svg")
    drawn = page.locator(".chart-plot .main-svg").count()
    assert drawn >= 6  # every chart with data drew an SVG (Plotly), no console errors (page fixture)
    assert "Sorted by" in page.locator("#breakdown").inner_text()
    assert "samsung-galaxy-a54" in page.locator("#breakdown").inner_text()
    screenshot(page, "fleet-health-cohort")


def test_filters_are_labelled_and_keyboard_reachable_and_status_is_not_colour_only(logged_in_page, viewer_user, fleet):
    page = logged_in_page("pm-paula")
    page.goto("/?range=7d")
    form = page.get_by_role("form", name="Time range and cohort filters")
    for field in form.locator("select, input:not([type=hidden])").all():
        field_id = field.get_attribute("id")
        assert page.locator(f"label[for='{field_id}']").count() == 1, field_id
    page.locator("#f-range").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-from"
    badges = page.locator("#kpi-cards .badge").all_inner_texts()
    assert badges and all(any(word in text for word in ("met", "at risk", "missed", "no target")) for text in badges)
    screenshot(page, "home-kpis")


def test_the_fleet_charts_draw_the_rollout_markers(logged_in_page, viewer_user, fleet):
    from rollouts.models import Rollout, RolloutDecision

    rollout = Rollout.objects.create(
        name="yolo 1.5", ml_model=fleet.yolo, baseline_version=fleet.v1, candidate_version=fleet.v2,
        stages=[{"percent": 5}, {"percent": 100}], status="rolled_back",
    )  # fmt: skip
    now = timezone.now()
    for hours, action in ((20, "start"), (12, "pause"), (6, "rollback")):
        RolloutDecision.objects.create(rollout=rollout, action=action, actor="x", at=now - timedelta(hours=hours))
    page = logged_in_page("pm-paula")
    page.goto("/fleet/?range=7d&model=yolov8n")
    latency = page.locator("#chart-latency")
    latency.locator(".shapelayer path").first.wait_for(state="attached")  # drawn (a locator wait: no eval)
    labels = latency.locator(".shapelayer text").all_text_contents()  # SVG text has no innerText
    assert {"yolo 1.5: start", "yolo 1.5: pause", "yolo 1.5: rollback"} <= set(labels)
    screenshot(page, "fleet-rollout-markers")
