"""The matrix overlay ?overlay=gap: every planted cell's band and ratio, reckoned from the raw rows, and the same
ratio as its cell page; a fixed number of queries whatever the number of cells."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labfield.field import CELL, cell_q, cells_exact_q
from labfield.selectors import cell_gap_get
from telemetry.models import DailyCoarseRollup, TrailingRollup

from .conftest import MIN_SESSIONS, expected_field, expected_lab, more_cells
from .test_gap_selectors import close, entry_of

pytestmark = pytest.mark.django_db
MATRIX = "/compat/"


def expected_band(planted, name, ratio_limit):
    """(band, ratio) from the planted sessions and lab runs alone."""
    if not planted.lab[name]:
        return "gap-none", None
    sessions, _, _, p95 = expected_field(planted, name)
    if sessions < MIN_SESSIONS:
        return "gap-none", None
    ratio = p95 / expected_lab(planted, name)[1]
    return ("gap-near" if ratio <= 1.1 else "gap-within" if ratio <= ratio_limit else "gap-over"), ratio


def matrix_cells(html):
    """{entry id: (classes, title, text)} of the matrix cells that link to a compat cell."""
    cells = {}
    for classes, title, entry_id, inner in re.findall(
        r'<td class="([^"]*)" title="([^"]*)"><a href="/compat/cell/(\d+)/"[^>]*>(.*?)</a></td>', html
    ):
        cells[int(entry_id)] = (classes.split(), title, re.sub(r"<[^>]+>", "", inner))
    return cells


def test_each_cell_is_coloured_by_its_gap_band_with_the_cell_page_s_ratio(planted, client, viewer_user, settings):
    client.force_login(viewer_user)
    response = client.get(MATRIX, {"overlay": "gap"})
    assert response.status_code == 200
    cells = matrix_cells(response.content.decode())
    shown = {name: planted.entry(name).pk for name in planted.cells if planted.entry(name).pk in cells}
    assert {"hot", "slow", "lab_only"} <= set(shown)  # the only path of their matrix cell
    bands = {}
    for name, entry_id in shown.items():
        classes, title, text = cells[entry_id]
        band, ratio = expected_band(planted, name, settings.LAB_FIELD_GAP_RATIO)
        assert band in classes and sum(c.startswith("gap-") for c in classes) == 1
        bands[name] = band
        if ratio is None:
            assert "gap: " in title
            continue
        page_ratio = cell_gap_get(entry=entry_of(planted, name)).ratio_7d.p95
        assert close(page_ratio, ratio)
        assert f"gap p95 {page_ratio:.2f}×" in title  # the cell page's number, as it rounds it (2 digits)
        assert text.endswith("!") == (band == "gap-over")
    assert (
        bands["slow"] == "gap-over" and bands["lab_only"] == "gap-none" and bands["hot"] in ("gap-near", "gap-within")
    )
    # Galaxy × 1.4.0 has two paths: the matrix shows the best one, crowd (lab ≈ field: near) or field_only (no lab)
    galaxy_v1 = "crowd" if "crowd" in shown else "field_only"
    assert bands[galaxy_v1] == {"crowd": "gap-near", "field_only": "gap-none"}[galaxy_v1]
    legend = response.content.decode().split('id="overlay-legend"')[1].split("</div>")[0]
    assert "≤ 1.1×" in legend and "&gt; 1.5× !" in legend
    overlay = response.context["matrix"].overlay
    assert len(overlay.marks) == len(cells) == len(shown)  # one mark per shown cell, none for cells not shown
    assert overlay.counts == {band: list(bands.values()).count(band) for band in set(bands.values())}


def test_the_bands_follow_the_ratio_setting(planted, client, viewer_user, settings):
    settings.LAB_FIELD_GAP_RATIO = 2.5  # slow's 2× is now within the setting
    client.force_login(viewer_user)
    cells = matrix_cells(client.get(MATRIX, {"overlay": "gap"}).content.decode())
    assert "gap-within" in cells[planted.entry("slow").pk][0]


def test_too_few_sessions_leave_a_cell_without_a_band(planted, client, viewer_user, settings):
    settings.LAB_FIELD_MIN_SESSIONS = 16  # slow has 15 sessions
    client.force_login(viewer_user)
    classes, title, _ = matrix_cells(client.get(MATRIX, {"overlay": "gap"}).content.decode())[planted.entry("slow").pk]
    assert "gap-none" in classes and "too few field sessions (15 of 16, 7 d)" in title


def test_without_the_overlay_the_matrix_is_unchanged_and_a_bad_overlay_is_400(planted, client, viewer_user):
    client.force_login(viewer_user)
    html = client.get(MATRIX).content.decode()
    assert "gap-" not in html and 'id="overlay-legend"' not in html
    bad = client.get(MATRIX, {"overlay": "heat"})
    assert bad.status_code == 400 and "Colour cells by" in bad.content.decode()


def test_the_overlay_reads_a_fixed_number_of_queries(planted, client, viewer_user):
    client.force_login(viewer_user)

    def queries(params):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(MATRIX, params).status_code == 200
        return len(captured)

    plain, overlaid = queries({}), queries({"overlay": "gap"})
    more_cells(planted, count=4)
    assert (queries({}), queries({"overlay": "gap"})) == (plain, overlaid)
    assert overlaid - plain == OVERLAY_QUERIES


# the lab runs of the shown cells, then the 7-day window's cell rows of those with a lab figure (TrailingRollup, which
# the rollup run built for whole UTC days, today included; without them the 7 daily cell rollups, also one query).
OVERLAY_QUERIES = 2


def test_the_overlay_reads_the_7_day_window_rows_with_the_daily_rows_figures(planted, client, viewer_user):
    client.force_login(viewer_user)

    def render(params):
        """(html, queries of the daily cell rollups, queries of the window rows)."""
        with CaptureQueriesContext(connection) as captured:
            html = client.get(MATRIX, params).content.decode()
        sql = [q["sql"] for q in captured.captured_queries]
        return (
            html,
            sum("telemetry_dailycoarserollup" in q for q in sql),
            sum("telemetry_trailingrollup" in q for q in sql),
        )

    _, plain_daily, _ = render({})
    served, daily, window = render({"overlay": "gap"})
    # The overlay's field figures: one read of the window's cell rows, beside lab coverage's read of the window.
    assert (daily, window) == (plain_daily, 2)
    TrailingRollup.objects.all().delete()  # not built for this range: the 7 daily cell rollups, the same figures
    merged, daily, _ = render({"overlay": "gap"})
    assert daily == plain_daily + 2  # the overlay's daily cells, and lab coverage's
    assert matrix_cells(served) == matrix_cells(merged)
    assert any("gap p95" in title for _, title, _ in matrix_cells(served).values())


def test_the_overlay_reads_the_rollups_of_exactly_the_cells_asked(planted):
    hot, field_only = planted.key("hot"), planted.key("field_only")  # cell_q's superset of the two holds crowd too
    rows = DailyCoarseRollup.objects.values_list(*CELL).distinct()
    assert set(rows.filter(cell_q([hot, field_only]))) >= {hot, field_only, planted.key("crowd")}
    assert set(rows.filter(cells_exact_q([hot, field_only]))) == {hot, field_only}
    assert not rows.filter(cells_exact_q([])).exists()
