"""Field evidence: after a rollup, each touched compat cell's trailing-7-day KPIs go to compat in one call."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from compat.services import EvidenceInput, compat_evidence_record

from ..kpi.buckets import hour_ceil
from ..kpi.grains import DIMENSIONS
from ..kpi.kpis import Kpis
from ..kpi.reads import grouped_totals

EVIDENCE_WINDOW = timedelta(days=7)
EVIDENCE_SOURCE_REF = "field:7d"


def field_evidence_link(cell: tuple[int, int, int, int], *, start: datetime, end: datetime) -> str:
    """The fleet view behind a cell's field figures: its cohort over exactly [start, end), so the page opened later
    still shows the figures the evidence (or a verdict built on it) was computed from."""
    mv, rv, delegate, dm = cell
    moment = "%Y-%m-%dT%H:%M:%SZ"
    query = {
        "range": "custom", "from": start.astimezone(UTC).strftime(moment), "to": end.astimezone(UTC).strftime(moment),
        "model_version_id": mv, "runtime_version_id": rv, "delegate_id": delegate, "device_model_id": dm,
    }  # fmt: skip
    return f"{reverse('fleet:health')}?{urlencode(query)}"


def field_evidence_push(*, cells: Iterable[tuple[int, int, int, int]], now: datetime | None = None) -> int:
    """Pushes each cell's trailing-7-day field KPIs into compat in one set-based call; returns items pushed."""
    cells = set(cells)
    if not cells:
        return 0
    end = hour_ceil(now or timezone.now())
    start = end - EVIDENCE_WINDOW
    columns = list(zip(*cells, strict=True))
    scope = {
        "model_version_id__in": set(columns[0]),
        "runtime_version_id__in": set(columns[1]),
        "delegate_id__in": set(columns[2]),
        "device_model_id__in": set(columns[3]),
    }
    fields = DIMENSIONS["cell"]
    groups = grouped_totals(start=start, end=end, q=Q(**scope), fields=fields)
    items = []
    for cell, totals in groups.items():
        if cell not in cells or not totals.sessions:
            continue
        kpis = Kpis.from_totals(totals, start=start, end=end)
        items.append(
            EvidenceInput(
                model_version_id=cell[0],
                runtime_version_id=cell[1],
                delegate_id=cell[2],
                device_model_id=cell[3],
                source="field",
                source_ref=EVIDENCE_SOURCE_REF,
                link=field_evidence_link(cell, start=start, end=end),
                sample_size=kpis.sessions,
                period_start=start,
                period_end=end,
                p95_latency_ms=kpis.p95_latency_ms,
                accelerated_fraction=kpis.accelerator_utilization,
                crash_free_sessions=kpis.crash_free_sessions,
                errors_per_1k=kpis.errors_per_1k,
                peak_rss_mb_p95=kpis.peak_rss_mb_p95,
            )
        )
    if items:
        compat_evidence_record(items=items, actor="field rollup")
    return len(items)
