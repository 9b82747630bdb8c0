import pytest

from .conftest import screenshot

MENU = ["Home", "Compatibility", "Fleet", "Crashes", "Benchmarks"]


def test_anonymous_visit_lands_on_the_login_form(page):
    page.goto("/fleet/")
    assert "/accounts/login/" in page.url
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_wrong_password_is_refused_with_a_message(page, viewer_user):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("pm-paula")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_viewer_logs_in_and_visits_every_menu_entry_without_console_errors(logged_in_page, viewer_user):
    page = logged_in_page("pm-paula")
    assert page.get_by_role("heading", level=1).is_visible()
    screenshot(page, "home")
    nav = page.get_by_role("navigation", name="Main")
    for label in MENU:
        nav.get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state("networkidle")
        link = nav.get_by_role("link", name=label, exact=True)
        assert link.get_attribute("aria-current") == "page", label
        screenshot(page, f"menu-{label.lower()}")


@pytest.mark.parametrize("width", [390])
def test_layout_is_usable_on_a_phone(logged_in_page, viewer_user, width):
    page = logged_in_page("pm-paula")
    page.set_viewport_size({"width": width, "height": 844})
    page.goto("/")
    assert page.get_by_role("navigation", name="Main").is_visible()
    screenshot(page, "home-phone")
