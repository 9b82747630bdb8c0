"""Reads for the device page: search, the timeline of a device's sessions and crashes, its compat cells and its
KPIs beside its device model's. Bounded queries; the device's own figures are summed by the database."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Count, F, FloatField, Q, Sum, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

from compat.models import CompatEntry
from edgeportal_client.histogram import LatencyHistogram

from ..kpi.kpis import Kpis
from ..kpi.reads import COUNTS_DECODER
from ..kpi.selectors import kpis_get
from ..kpi.totals import Totals
from ..models import CrashReport, Device, InferenceSession
from .matching import devices_matching


def devices_search(*, q: str, limit: int = 50, fleets: frozenset[str] | None = None) -> list[Device]:
    """Devices matching `q` (any part of the uid or firmware: `matching.device_match_q`), exact uid first; only
    those of `fleets` when given."""
    q = q.strip()
    if not q:
        return []
    exact = Case(When(uid__iexact=q, then=0), default=1)
    matched = devices_matching(q).select_related("device_model")
    if fleets is not None:
        matched = matched.filter(fleet__in=fleets)
    return list(matched.order_by(exact, "uid")[:limit])


@dataclass
class TimelineItem:
    """One row of a device's timeline: a session or a crash."""

    at: datetime
    kind: str  # "session" or "crash"
    obj: Any


@dataclass
class TimelinePage:
    """One page of a device's timeline, newest first, with what the page links need."""

    items: list[TimelineItem]
    number: int
    num_pages: int
    count: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


TIMELINE_MAX_PAGE = 200  # a merged offset of two streams: deeper pages would read ever more rows


def device_timeline_get(
    *, device: Device, start: datetime, end: datetime, page: int = 1, per_page: int = 50
) -> TimelinePage:
    """The device's sessions and crashes in range, newest first, one page (two counts + two index-backed reads).

    Page p merges the newest p × per_page rows of each table, so it is exact whatever the mix of the two.
    """
    related = ("model_version__ml_model", "runtime_version__runtime", "delegate")
    sessions = InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end)
    crashes = CrashReport.objects.filter(device=device, occurred_at__gte=start, occurred_at__lt=end)
    count = sessions.count() + crashes.count()
    num_pages = min(max(1, -(-count // per_page)), TIMELINE_MAX_PAGE)
    number = min(max(1, page), num_pages)
    depth = number * per_page
    items = [
        TimelineItem(s.started_at, "session", s)
        for s in sessions.select_related(*related).order_by("-started_at")[:depth]
    ]
    items += [
        TimelineItem(c.occurred_at, "crash", c)
        for c in crashes.select_related("group", *related).order_by("-occurred_at")[:depth]
    ]
    items.sort(key=lambda item: item.at, reverse=True)
    return TimelinePage(items=items[depth - per_page : depth], number=number, num_pages=num_pages, count=count)


TIMELINE_EXPORT_FIELDS = ("at", "kind", "model_version", "runtime_version", "delegate", "inferences", "errors",
                          "peak_rss_mb", "thermal_state", "crash_group", "crash_title")  # fmt: skip


def device_timeline_export_rows(*, device: Device, start: datetime, end: datetime, limit: int) -> list[dict]:
    """The device's sessions and crashes in range, newest first, at most `limit` of each (the timeline, as data)."""
    page = device_timeline_get(device=device, start=start, end=end, page=1, per_page=limit)
    rows = []
    for item in page.items:
        obj = item.obj
        row = {"at": item.at.isoformat(), "kind": item.kind, "model_version": str(obj.model_version),
               "runtime_version": str(obj.runtime_version), "delegate": obj.delegate.slug}  # fmt: skip
        if item.kind == "session":
            row.update(inferences=obj.inferences, errors=obj.errors, peak_rss_mb=obj.peak_rss_mb,
                       thermal_state=obj.thermal_state)  # fmt: skip
        else:
            row.update(crash_group=obj.group_id, crash_title=obj.group.title if obj.group_id else "")
        rows.append(row)
    return rows


def device_cells_get(*, device: Device, start: datetime, end: datetime) -> list[CompatEntry]:
    """The compat cells this device ran in range (its model versions × runtime versions × delegates)."""
    combos = (
        InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end)
        .values("model_version_id", "runtime_version_id", "delegate_id")
        .distinct()[:50]
    )
    cell_filter = Q(pk__in=[])
    for combo in combos:
        cell_filter |= Q(device_model_id=device.device_model_id, **combo)
    return list(
        CompatEntry.objects.filter(cell_filter).select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate", "device_model"
        )
    )


KPI_ROWS = (
    ("p95 latency (ms)", "p95_latency_ms", "{:.1f}"),
    ("Crash-free sessions", "crash_free_sessions", "{:.2%}"),
    ("Errors per 1k", "errors_per_1k", "{:.2f}"),
    ("Accelerator utilization", "accelerator_utilization", "{:.1%}"),
    ("Peak RSS p95 (MB)", "peak_rss_mb_p95", "{:.0f}"),
    ("Sessions", "sessions", "{:,}"),
)


def device_totals(*, device: Device, start: datetime, end: datetime) -> Totals:
    """The device's own sessions in range as the rollups' Totals: the scalar sums by the database (one aggregate), the
    latency histograms and peak RSS values merged here from one narrow read (2 queries)."""
    sessions = InferenceSession.objects.filter(device=device, started_at__gte=start, started_at__lt=end)
    reported = Q(accelerated_fraction__isnull=False)
    sums = sessions.aggregate(  # aliased: an aggregate may not share a name with a column another one reads
        t_sessions=Count("id"),
        t_crashed_sessions=Count("id", filter=Q(has_crash=True)),
        t_inferences=Coalesce(Sum("inferences"), 0),
        t_errors=Coalesce(Sum("errors"), 0),
        t_accelerated_weighted_sum=Coalesce(
            Sum(F("accelerated_fraction") * F("inferences"), filter=reported, output_field=FloatField()), 0.0
        ),
        t_accelerated_weight=Coalesce(Sum("inferences", filter=reported), 0),
    )
    totals = Totals(**{name.removeprefix("t_"): value for name, value in sums.items()})
    if not totals.sessions:
        return totals
    # Each session's latency counts come back as JSON text for msgspec (the ORM's JSON decoding was most of the
    # page at 10 M sessions; a merge in SQL made PostgreSQL start parallel workers), with its peak RSS.
    rss = LatencyHistogram()
    for counts, peak_rss_mb in sessions.order_by().values_list(KT("latency_histogram__counts"), "peak_rss_mb"):
        if counts:  # as the rollups merge a session's histogram: its zero bucket is not counted
            for bucket, n in COUNTS_DECODER.decode(counts).items():
                totals.latency_counts[bucket] += n
        if peak_rss_mb:  # no RSS, or 0: not reported
            rss.add(peak_rss_mb)
    totals.add_histogram(rss.to_wire(), rss=True)
    return totals


def device_kpis_vs_cohort(*, device: Device, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The device's KPIs (device_totals: its own sessions, summed by the database) next to its device model's (the KPI
    selector), both through Kpis.from_totals, so the definitions are exactly the selector's."""
    totals = device_totals(device=device, start=start, end=end)
    if not totals.sessions:
        return []
    mine = Kpis.from_totals(totals, start=start, end=end)
    cohort = kpis_get(start=start, end=end, filters={"device_model_id": device.device_model_id})

    def fmt(value, pattern: str) -> str | None:
        return None if value is None else pattern.format(value)

    return [
        {"label": label, "device": fmt(getattr(mine, attr), pattern), "cohort": fmt(getattr(cohort, attr), pattern)}
        for label, attr, pattern in KPI_ROWS
    ]
