"""The edge-AI engineer's job: narrow the runs with a searchable dropdown, tick two runs, compare them, and open
the comparison behind a regression; no console error and no sideways scroll on a phone or a desktop."""

import pytest

from benchmarks.models import Regression
from benchmarks.processing import series_detect
from tests.benchmarks.conftest import catalog, make_run  # noqa: F401

from .conftest import screenshot

pytestmark = pytest.mark.usefixtures("catalog")


def _history():
    runs = [
        make_run(
            day=d,
            mean=10.0 * (1.15 if d >= 10 else 1.0) * (1 + 0.004 * (d % 3)),
            accuracy=0.75,
            samples=[9.9 + 0.05 * i + (1.5 if d >= 10 else 0) for i in range(8)],
        )
        for d in range(12)
    ]
    other_delegate = make_run(day=3, mean=25.0, delegate="xnnpack")
    series_detect(series=runs[0].series)
    return runs, other_delegate


def _assert_fits(page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{page.url} is {scroll_width} px wide at {width} px"


@pytest.mark.parametrize("width", [390, 1440])
def test_engineer_filters_ticks_two_runs_compares_them_and_opens_a_regressions_comparison(
    logged_in_page, viewer_user, width
):
    runs, other_delegate = _history()
    page = logged_in_page("pm-paula")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/benchmarks/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_label(f"Tick run #{other_delegate.id}").is_visible()

    # The Delegate filter is a dropdown searched by typing, driven from the keyboard; the select itself is hidden.
    assert page.locator("select#id_delegate").is_hidden()
    page.get_by_text("Delegate", exact=True).click()
    search = page.get_by_label("Filter the Delegate choices")
    assert search.is_visible() and search.evaluate("node => node === document.activeElement")
    search.type("gp")
    choices = page.get_by_role("group", name="Delegate choices")
    assert choices.get_by_label("gpu").is_visible() and choices.get_by_label("xnnpack").is_hidden()
    _assert_fits(page, width)
    search.press("Enter")  # ticks the one choice left
    assert choices.get_by_label("gpu").is_checked()
    search.press("Escape")
    assert search.is_hidden()
    assert "gpu" in page.locator("details.multiselect summary").filter(has_text="Delegate").inner_text()
    screenshot(page, f"benchmarks-runs-filter-{width}")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "delegate=gpu" in url)
    assert page.get_by_label(f"Tick run #{other_delegate.id}").count() == 0
    _assert_fits(page, width)

    older, newer = runs[2], runs[7]
    page.get_by_label(f"Tick run #{newer.id}").check()
    page.get_by_label(f"Tick run #{older.id}").check()
    page.get_by_role("button", name="Compare two runs").click()
    page.wait_for_url(lambda url: "/benchmarks/compare/?" in url)
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text() == f"Comparison: run #{newer.id} vs run #{older.id}"
    _assert_fits(page, width)
    screenshot(page, f"benchmarks-compare-picked-{width}")

    regression = Regression.objects.get(metric="latency_mean_ms")
    page.goto("/benchmarks/regressions/")
    page.wait_for_load_state("networkidle")
    _assert_fits(page, width)
    page.get_by_label(
        f"Compare run #{regression.change_run_id} with run #{regression.run_before_id}: latency_mean_ms"
    ).click()
    page.wait_for_load_state("networkidle")
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading == f"Comparison: run #{regression.change_run_id} vs run #{regression.run_before_id}"
    _assert_fits(page, width)


def test_one_ticked_run_is_explained_and_stays_ticked(logged_in_page, viewer_user):
    runs, _ = _history()
    page = logged_in_page("pm-paula")
    page.goto("/benchmarks/")
    page.get_by_label(f"Tick run #{runs[5].id}").check()
    page.get_by_role("button", name="Compare two runs").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("Tick exactly two runs to compare them (you ticked 1).").is_visible()
    assert page.get_by_label(f"Tick run #{runs[5].id}").is_checked()
