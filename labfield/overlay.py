"""The matrix overlay "lab-vs-field gap": each shown cell coloured by its 7-day p95 ratio (docs/lab-field.md).

The ratio is the cell page's (selectors.FieldFigure / Ratio over labfield.field.cells_totals and labfield.lab), read
for every shown cell at once: the lab runs in one query, then the 7-day cell rollups of the cells that have a lab
figure — never a query per cell.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.conf import settings

from compat.panels import CellMark, MatrixOverlay

from . import field as field_reads
from .field import Cell
from .lab import lab_figures
from .selectors import FieldFigure, Ratio

NEAR_RATIO = 1.1  # up to here the field runs as the lab measured (within run-to-run and thermal noise)
OVERLAY_DAYS = 7


class GapBand:
    """The overlay's bands, as CSS classes (compat/static/compat/matrix.css)."""

    NEAR = "gap-near"
    WITHIN = "gap-within"
    OVER = "gap-over"
    NONE = "gap-none"
    ORDER = (NEAR, WITHIN, OVER, NONE)


def gap_band(figure: FieldFigure, ratio: Ratio, *, has_lab: bool) -> tuple[str, str]:
    """(band, why) of one cell: OVER is exactly the cell page's "flagged" (above LAB_FIELD_GAP_RATIO over at least
    LAB_FIELD_MIN_SESSIONS sessions); a cell without a lab figure or with too few sessions has no band."""
    min_sessions = settings.LAB_FIELD_MIN_SESSIONS
    if not has_lab:
        return GapBand.NONE, "no lab run"
    if figure.sessions < min_sessions or ratio.p95 is None:
        return GapBand.NONE, f"too few field sessions ({figure.sessions} of {min_sessions}, 7 d)"
    if ratio.p95 <= NEAR_RATIO:
        return GapBand.NEAR, ""
    if ratio.p95 <= settings.LAB_FIELD_GAP_RATIO:
        return GapBand.WITHIN, ""
    return GapBand.OVER, ""


def cells_gap_bands(cells: list[Cell], *, now: datetime | None = None) -> dict[Cell, tuple[str, str, Ratio]]:
    """(band, title, ratio) per cell: 1 query for the lab runs, then ≤ 4 for the cells with a lab figure's rollups."""
    if not cells:
        return {}
    # Exactly the shown cells: cell_q's superset read every path of each matrix cell (~4× the rows in the bench).
    shown = set(cells)
    lab = {
        cell: figure
        for cell, figure in lab_figures(q=field_reads.cells_exact_q(shown), now=now)[0].items()
        if cell in shown
    }
    q = field_reads.cells_exact_q(lab)
    totals = field_reads.cells_totals(days=OVERLAY_DAYS, q=q, now=now, devices=False) if lab else {}
    result = {}
    for cell in cells:
        figure = FieldFigure.from_totals(totals.get(cell))
        ratio = Ratio.of(figure, lab.get(cell))
        band, why = gap_band(figure, ratio, has_lab=cell in lab)
        if why:
            title = f"gap: {why}"
        else:
            title = (f"gap p95 {ratio.p95:.2f}× (field {figure.p95_ms:.1f} ms ÷ lab {lab[cell].p95_ms:.1f} ms, "
                     f"7 d, {figure.sessions} sessions)")  # fmt: skip
        result[cell] = (band, title, ratio)
    return result


def matrix_gap_overlay(cells: list[Cell]) -> MatrixOverlay:
    """compat.panels' overlay "gap" (registered in LabFieldConfig.ready())."""
    bands = cells_gap_bands(cells)
    limit = settings.LAB_FIELD_GAP_RATIO
    legend = [
        (GapBand.NEAR, f"≤ {NEAR_RATIO:g}×"),
        (GapBand.WITHIN, f"≤ {limit:g}×"),
        (GapBand.OVER, f"> {limit:g}× !"),
        (GapBand.NONE, f"no lab run or < {settings.LAB_FIELD_MIN_SESSIONS} sessions"),
    ]
    return MatrixOverlay(
        marks={
            cell: CellMark(css_class=band, title=title, marker="!" if band == GapBand.OVER else "")
            for cell, (band, title, _) in bands.items()
        },
        legend=legend,
        note="Field p95 ÷ lab p95 of each cell's best path, last 7 days (as on the cell page)",
        counts=dict(Counter(band for band, _, _ in bands.values())),
    )
