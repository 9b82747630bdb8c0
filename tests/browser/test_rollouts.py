"""Browser: an admin pauses a rollout and then rolls it back from its page, giving reasons (Playwright, chromium)."""

from rollouts.models import Rollout
from rollouts.services import Actor, rollout_create, rollout_start
from tests.rollouts.conftest import rollout_body
from tests.rollouts.factories import catalog_make

from .conftest import screenshot


def test_an_admin_pauses_and_rolls_back_from_the_rollout_page(page, logged_in_page, admin_user_role):
    # shared CI machines can be slow: give navigations more than Playwright's default 30 s
    page.set_default_timeout(90_000)
    page.set_default_navigation_timeout(90_000)
    catalog_make()
    rollout = rollout_create(data=rollout_body(), actor=Actor(name="release-bot"))
    rollout_start(rollout_id=rollout.pk, actor=Actor(name="release-bot"))
    tab = logged_in_page("admin-ada")
    tab.goto("/rollouts/")
    tab.get_by_role("link", name="yolov8n 1.5 on tier 1").click()
    tab.wait_for_load_state("networkidle")
    tab.get_by_label("Reason to pause").fill("p95 drifting on Pixel 8")
    tab.locator('button[data-action="pause"]').click()
    tab.wait_for_load_state("networkidle")
    assert Rollout.objects.get(pk=rollout.pk).status == "paused"
    tab.once("dialog", lambda dialog: dialog.accept())  # the roll back asks once more
    tab.get_by_label("Reason to roll back").fill("confirmed: 15 % slower")
    tab.locator('button[data-action="rollback"]').click()
    tab.wait_for_load_state("networkidle")
    assert Rollout.objects.get(pk=rollout.pk).status == "rolled_back"
    log = tab.locator("#decision-log").inner_text()
    assert "p95 drifting on Pixel 8" in log and "confirmed: 15 % slower" in log and "admin-ada" in log
    screenshot(tab, "rollout-rolled-back")


def test_an_admin_creates_a_draft_rollout_from_the_form_fixing_a_refused_stage(page, logged_in_page, admin_user_role):
    page.set_default_timeout(90_000)
    page.set_default_navigation_timeout(90_000)
    catalog_make()
    tab = logged_in_page("admin-ada")
    tab.goto("/rollouts/")
    tab.get_by_role("link", name="New rollout").click()
    tab.get_by_label("Name", exact=True).fill("yolov8n 1.5 on the Pixel")
    tab.get_by_label("Model", exact=True).select_option("yolov8n")
    tab.get_by_label("Baseline version").select_option("1.4.0")
    tab.get_by_label("Candidate version").select_option("1.5.0")
    tab.get_by_label("Google Pixel 8").check()
    tab.get_by_label("stage 3 percent").fill("20")  # below stage 2's 25: refused
    tab.get_by_role("button", name="Create draft").click()
    tab.wait_for_load_state("networkidle")
    error = tab.locator('[data-field="stages"]')
    assert error.inner_text() == "stage row 3: percent 20 must exceed the previous 25"
    assert not Rollout.objects.exists()
    assert tab.get_by_label("Name", exact=True).input_value() == "yolov8n 1.5 on the Pixel"  # what was typed is kept
    screenshot(tab, "rollout-form-refused")
    tab.get_by_label("stage 3 percent").fill("100")
    tab.get_by_role("button", name="Create draft").click()
    tab.locator('button[data-action="start"]').wait_for()
    rollout = Rollout.objects.get()
    assert tab.url.endswith(f"/rollouts/{rollout.pk}/")
    assert (rollout.status, rollout.scope["device_model"], rollout.stages[-1]["percent"]) == (
        "draft", ["google-pixel-8"], 100,
    )  # fmt: skip
