"""No page scrolls sideways on a 390-px phone or a 1440-px desktop: wide tables scroll inside their own box."""

import pytest

from .test_fleet import fleet  # noqa: F401  (a small fleet with a crash group, rolled up)

PAGES = [
    "/", "/fleet/", "/fleet/devices/", "/crashes/", "/compat/", "/benchmarks/", "/benchmarks/regressions/",
    "/search/?q=pixel8", "/releases/", "/releases/yolov8n/1.4.0/",
]  # fmt: skip


@pytest.mark.parametrize("width", [390, 1440])
def test_no_page_overflows_the_viewport(logged_in_page, viewer_user, fleet, width):  # noqa: F811
    page = logged_in_page("pm-paula")
    page.set_viewport_size({"width": width, "height": 900})
    for path in [*PAGES, f"/fleet/devices/{fleet.device.uid}/", f"/crashes/{fleet.group.pk}/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"{path} is {scroll_width} px wide at {width} px"
