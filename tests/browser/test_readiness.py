"""The PM's job: open a compat cell, read its ship-readiness verdict, go to the version's release-readiness page and
download the Markdown release note; no console error and no sideways scroll on a phone or a desktop."""

from pathlib import Path

import pytest

from tests.readiness.conftest import release_make

from .conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def release(transactional_db):
    return release_make()


def _fits(page, width: int) -> None:
    page.wait_for_load_state("networkidle")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at {width} px"


@pytest.mark.parametrize("width", [390, 1440])
def test_pm_answers_the_ship_question_for_a_cell_and_exports_the_release_note(
    logged_in_page, viewer_user, release, width
):
    page = logged_in_page("pm-paula")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"/compat/cell/{release.galaxy_gpu.pk}/")
    verdict = page.locator("#readiness-verdict")
    verdict.wait_for()  # the card is filled in from the readiness app
    assert verdict.inner_text().strip() == "✖ Not ready"
    card = page.locator("#readiness")
    assert "misses the 120 ms target" in card.inner_text()
    assert (
        card.get_by_role("link", name="p95 latency")
        .first.get_attribute("href")
        .startswith("/fleet/?range=custom&from=")
    )
    _fits(page, width)
    screenshot(page, f"readiness-cell-{width}")

    page.locator("#release-readiness-link").click()
    page.wait_for_url("**/releases/yolov8n/1.5.0/**")
    assert page.locator("#version-verdict").inner_text().strip() == "✖ Not ready"
    assert page.locator(f"#cell-{release.pixel_gpu.pk}").get_by_role("link", name="open crash group").count() == 1
    _fits(page, width)
    screenshot(page, f"readiness-release-{width}")

    with page.expect_download() as download_info:
        page.locator("#export-md").click()
    download = download_info.value
    assert download.suggested_filename == "release-readiness-yolov8n-1.5.0.md"
    note = Path(download.path()).read_text()
    assert note.startswith("## YOLOv8n 1.5.0: ✖ Not ready\n")
    assert "| Samsung Galaxy A54 | tflite 2.16.1 / gpu | ✖ Not ready |" in note
