import pytest

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
        for d in range(16)
    ]
    series_detect(series=runs[0].series)
    return runs


def test_engineer_opens_a_run_a_comparison_and_the_regression_dashboard(logged_in_page, viewer_user):
    runs = _history()
    page = logged_in_page("pm-paula")
    page.goto("/benchmarks/")
    page.get_by_role("link", name=f"#{runs[-1].id}", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"Run #{runs[-1].id}")
    assert page.locator(f"#latency-{runs[-1].id} .main-svg").first.is_visible()
    screenshot(page, "benchmarks-run")
    page.get_by_role("link", name=f"Compare with previous run #{runs[-2].id}").click()
    page.wait_for_load_state("networkidle")
    assert "Comparison" in page.get_by_role("heading", level=1).inner_text()
    assert page.get_by_text("Welch t").first.is_visible()
    screenshot(page, "benchmarks-compare")
    page.goto("/benchmarks/regressions/")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("cell", name="latency_mean_ms").first.is_visible()
    assert page.locator(f"#trend-{runs[0].series_id} .main-svg").first.is_visible()
    screenshot(page, "benchmarks-regressions")
