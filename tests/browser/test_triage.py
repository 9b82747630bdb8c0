"""Support finds a crash group through the header search, merges a duplicate into it (confirming) and undoes it."""

from telemetry.models import CrashGroup
from tests.telemetry.fleet_factories import crash_group_make

from .conftest import screenshot
from .test_fleet import fleet  # noqa: F401  (a small fleet with a crash group, rolled up)


def test_support_searches_merges_with_confirmation_and_undoes_the_merge(logged_in_page, support_user, fleet):  # noqa: F811
    duplicate = crash_group_make(fleet, devices=[fleet.device], title="SIGSEGV duplicate report")
    page = logged_in_page("support-sam")
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/")
    page.get_by_label("Search devices, crash groups, models, runs").fill("SIGSEGV in tflite")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=**")
    page.get_by_role("link", name="SIGSEGV in tflite gpu delegate").first.click()
    page.wait_for_url(f"**/crashes/{fleet.group.pk}/")
    page.get_by_label("Merge another group into this one (its id)").fill(str(duplicate.pk))
    page.get_by_role("button", name="Merge…").click()
    page.wait_for_load_state("networkidle")
    assert "SIGSEGV duplicate report" in page.content() and CrashGroup.objects.filter(pk=duplicate.pk).exists()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "crash-group-merge-confirm")
    page.get_by_role("button", name=f"Merge #{duplicate.pk} into #{fleet.group.pk}").click()
    page.wait_for_url(f"**/crashes/{fleet.group.pk}/")
    assert not CrashGroup.objects.filter(pk=duplicate.pk).exists()
    page.get_by_role("button", name="Undo merge").click()
    page.wait_for_load_state("networkidle")
    restored = CrashGroup.objects.get(pk=duplicate.pk)
    assert (restored.title, restored.event_count, restored.device_count) == ("SIGSEGV duplicate report", 1, 1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
