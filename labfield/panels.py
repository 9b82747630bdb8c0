"""What labfield adds to lower layers' pages: the compat cell's gap panel, the matrix's lab-coverage states."""

from django.conf import settings
from django.urls import reverse

from compat.models import CompatEntry
from compat.panels import CellPanel, MatrixCoverage
from telemetry.kpi.scope import time_range_parse

from .coverage import lab_coverage, pair_coverage_states
from .drift import cell_drift_get
from .selectors import cell_gap_get

# The matrix has no time range of its own: it reads the home page's default range, so the two agree.
MATRIX_COVERAGE_RANGE = "7d"


def cell_gap_panel(entry: CompatEntry) -> CellPanel:
    gap = cell_gap_get(entry=entry)
    return CellPanel(
        template="labfield/_cell_gap.html",
        context={
            "gap": gap,
            "ratio_limit": settings.LAB_FIELD_GAP_RATIO,
            "min_sessions": settings.LAB_FIELD_MIN_SESSIONS,
        },
    )


def cell_drift_panel(entry: CompatEntry) -> CellPanel:
    return CellPanel(
        template="labfield/_cell_drift.html",
        context={
            "drift": cell_drift_get(entry=entry),
            "points_limit": settings.LAB_FIELD_DRIFT_POINTS,
            "min_sessions": settings.LAB_FIELD_DRIFT_MIN_SESSIONS,
        },
    )


def matrix_coverage(evidenced: set[tuple[int, int]]) -> MatrixCoverage:
    """The whole fleet's coverage over the last 7 days (the matrix's filters narrow the cells, not the fleet)."""
    time_range = time_range_parse(params={}, default=MATRIX_COVERAGE_RANGE)
    coverage = lab_coverage(start=time_range.start, end=time_range.end, filters={})
    return MatrixCoverage(
        states=pair_coverage_states(coverage=coverage, evidenced=evidenced),
        note=(f"Fleet: pairs with sessions in the last 7 days; lab-tested: a successful lab run on a runtime and "
              f"delegate the pair runs in the field, in the last {settings.LAB_COVERAGE_DAYS} days"),
        report_url=reverse("labfield:coverage") + f"?range={MATRIX_COVERAGE_RANGE}",
    )  # fmt: skip
