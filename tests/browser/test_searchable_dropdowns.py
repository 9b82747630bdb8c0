"""The matrix's multi-choice filters are searchable dropdowns, usable from the keyboard alone, that submit the same
field as the plain multi-select; an open dropdown never makes a phone's page scroll sideways."""

import pytest
from playwright.sync_api import expect

from tests.benchmarks.conftest import catalog  # noqa: F401

pytestmark = pytest.mark.usefixtures("catalog")


@pytest.mark.parametrize("width", [390, 1440])
def test_a_matrix_filter_is_searched_and_ticked_from_the_keyboard(logged_in_page, viewer_user, width):
    page = logged_in_page("pm-paula")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/compat/")
    page.wait_for_load_state("networkidle")
    assert page.locator("select[multiple]").count() > 0
    assert page.locator("select[multiple]:visible").count() == 0  # every one became a dropdown

    page.get_by_text("Runtime", exact=True).click()
    search = page.get_by_label("Filter the Runtime choices")
    # The dropdown focuses its filter on the (asynchronous) toggle event: under CI load that came after the
    # ArrowDown below and took the focus back from the first box, so the Space went into the filter.
    expect(search).to_be_focused()
    search.type("onnx")
    search.press("ArrowDown")
    page.keyboard.press("Space")
    choices = page.get_by_role("group", name="Runtime choices")
    expect(choices.get_by_label("ONNX Runtime")).to_be_checked()
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"an open dropdown makes the matrix {scroll_width} px wide at {width} px"
    page.keyboard.press("Escape")
    summary = page.locator("details.multiselect summary").filter(has_text="Runtime:")
    assert summary.evaluate("node => node === document.activeElement")  # focus goes back to the dropdown
    assert "ONNX Runtime" in summary.inner_text()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(lambda url: "runtime=onnxruntime" in url)
    assert "ONNX Runtime" in page.locator("details.multiselect summary").filter(has_text="Runtime:").inner_text()


def test_a_click_outside_closes_an_open_dropdown(logged_in_page, viewer_user):
    page = logged_in_page("pm-paula")
    page.goto("/compat/")
    page.get_by_text("Model", exact=True).click()
    assert page.get_by_label("Filter the Model choices").is_visible()
    page.get_by_role("heading", level=1).click()
    assert page.get_by_label("Filter the Model choices").is_hidden()
