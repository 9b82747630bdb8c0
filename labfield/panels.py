"""What labfield adds to lower layers' pages: the gap panel of the compat cell page, the regressions' field impact."""

from django.conf import settings

from compat.models import CompatEntry
from compat.panels import CellPanel

from .selectors import cell_gap_get


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
