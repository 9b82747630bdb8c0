"""Reads for the support pages (crash group, device) and the compat links: bounded queries, none per row."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Count, F, Q, Subquery, Sum
from django.db.models.functions import TruncDay
from django.utils.dateparse import parse_date
from django.utils.http import urlencode

from compat.models import CompatEntry

from ..kpi.buckets import DAY, HOUR, day_floor, hour_floor, range_snap
from ..kpi.reads import range_pieces
from ..models import (
    CrashGroup,
    CrashGroupDevice,
    CrashGroupStatus,
    CrashReport,
    DailyCrashGroupRollup,
    Device,
    HourlyCrashGroupRollup,
)
from .filtersets import CrashGroupFilterSet

CELL_FIELDS = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
BREAKDOWNS = {
    "device_model": ("device_model__vendor", "device_model__name"),
    "os_version": ("os_version",),
    "model_version": ("model_version__ml_model__slug", "model_version__version"),
    "delegate": ("delegate__runtime__slug", "delegate__slug"),
}
# The filter parameters (FILTER_LOOKUPS names) that narrow the crash list and the fleet view to a breakdown row.
BREAKDOWN_FILTERS = {
    "device_model": (("device_model", "device_model__slug"),),
    "os_version": (("os_version", "os_version"),),
    "model_version": (("model", "model_version__ml_model__slug"), ("model_version", "model_version__version")),
    "delegate": (("runtime", "delegate__runtime__slug"), ("delegate", "delegate__slug")),
}
# A crash-group rollup row grouped by its compat cell and the breakdowns' labels (names ride along the ids).
_COMBO_COLUMNS = (
    *CELL_FIELDS,
    *dict.fromkeys(column for columns in BREAKDOWNS.values() for column in columns),
    *dict.fromkeys(column for pairs in BREAKDOWN_FILTERS.values() for _, column in pairs),
)


@dataclass
class CrashGroupDetail:
    """Everything the crash group page shows, read in a fixed number of queries."""

    group: CrashGroup
    sample: CrashReport | None
    breakdowns: dict[str, list[dict[str, Any]]]
    events_over_time: list[tuple[datetime, int]]
    devices: list[Device]
    cells: list[CompatEntry]
    notes: list = field(default_factory=list)
    audit: list = field(default_factory=list)
    events_in_range: int = 0


def crash_rollup_sources(*, start: datetime, end: datetime, hourly: bool = False) -> list[tuple[type, Q]]:
    """Where crash-group counts of [start, end) live: whole UTC days in daily rows, edge hours in hourly rows.

    With `hourly`, everything from hourly rows (an hour-by-hour chart); the range is snapped to hours like the KPIs'.
    """
    start, end = range_snap(start, end)
    if hourly:
        return [(HourlyCrashGroupRollup, Q(bucket_start__gte=start, bucket_start__lt=end))]
    edges, (day_start, day_end) = range_pieces(start, end)
    sources = []
    if edges:
        hour_q = Q()
        for a, b in edges:
            hour_q |= Q(bucket_start__gte=a, bucket_start__lt=b)
        sources.append((HourlyCrashGroupRollup, hour_q))
    if day_start < day_end:
        sources.append((DailyCrashGroupRollup, Q(bucket_start__gte=day_start, bucket_start__lt=day_end)))
    return sources


def _ranked(counts: Counter, *, total: int, limit: int, label, query=lambda key: "") -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], label(item[0])))[:limit]
    return [{"label": label(key), "events": n, "share": n / total, "query": query(key)} for key, n in ranked]


def crash_group_app_versions(*, group_id: int, start: datetime, end: datetime, limit: int = 10) -> list[dict]:
    """Events per app version in [start, end): raw reports (the rollups have no app version), one grouped query."""
    rows = (
        CrashReport.objects.filter(group_id=group_id, occurred_at__gte=start, occurred_at__lt=end)
        .values_list("app_version")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = Counter({(version,): n for version, n in rows})
    return _ranked(
        counts, total=sum(counts.values()), limit=limit, label=lambda key: key[0] or "(unknown)",
        query=lambda key: urlencode({"app_version": key[0]}) if key[0] else "",
    )  # fmt: skip


def crash_group_detail_get(
    *, group_id: int, start: datetime, end: datetime, device_limit: int = 50, cell_limit: int = 20
) -> CrashGroupDetail:
    """A group with breakdowns and events over [start, end), its newest raw report and the cells it implicates.

    Counts come from the crash-group rollups (≤ 4 grouped reads), so the page costs what the combinations the group
    hit cost, not its crash count; only the sample report is raw (one index probe).
    """
    group = CrashGroup.objects.select_related("assignee").get(pk=group_id)
    # The newest report's id as a subquery: joined to its six related tables in the same query as the newest-first
    # scan, PostgreSQL spent ~10 ms planning the join orders over every index of the table (the scan takes 0.1 ms).
    newest = CrashReport.objects.filter(group=group).order_by("-occurred_at").values("pk")[:1]
    sample = (
        CrashReport.objects.filter(pk=Subquery(newest))
        .select_related("device", "device_model", "model_version__ml_model", "runtime_version__runtime", "delegate")
        .first()
    )
    hourly = end - start <= timedelta(days=2)
    combos: Counter = Counter()
    buckets: Counter = Counter()
    for model, when in crash_rollup_sources(start=start, end=end, hourly=hourly):
        rows = model.objects.filter(when, group_id=group.pk)
        for row in rows.values(*_COMBO_COLUMNS).annotate(n=Sum("events")).order_by():
            combos[tuple(row[column] for column in _COMBO_COLUMNS)] += row["n"]
        bucket = F("bucket_start") if hourly or model is DailyCrashGroupRollup else TruncDay("bucket_start")
        for row in rows.values(at=bucket).annotate(n=Sum("events")).order_by():
            buckets[row["at"]] += row["n"]
    total = sum(combos.values())
    breakdowns = {}
    for name, columns in BREAKDOWNS.items():
        params, width = [param for param, _ in BREAKDOWN_FILTERS[name]], len(columns)
        positions = [_COMBO_COLUMNS.index(column) for column in (*columns, *(c for _, c in BREAKDOWN_FILTERS[name]))]
        counts: Counter = Counter()
        for key, n in combos.items():
            counts[tuple(key[p] for p in positions)] += n
        breakdowns[name] = _ranked(
            counts, total=total, limit=10,
            label=lambda values, n=width: " ".join(str(v) for v in values[:n] if v) or "(unknown)",
            query=lambda values, n=width, params=params: urlencode(
                {param: value for param, value in zip(params, values[n:], strict=True) if value}
            ),
        )  # fmt: skip
    breakdowns["app_version"] = crash_group_app_versions(group_id=group.pk, start=start, end=end)
    cells: Counter = Counter()
    for key, n in combos.items():
        cells[key[: len(CELL_FIELDS)]] += n
    devices = list(
        Device.objects.filter(pk__in=CrashGroupDevice.objects.filter(group=group).values("device_id"))
        .select_related("device_model")
        .order_by("-last_seen_at")[:device_limit]
    )
    return CrashGroupDetail(
        group=group,
        sample=sample,
        breakdowns=breakdowns,
        events_over_time=_zero_filled(buckets, start=start, end=end, step=HOUR if hourly else DAY),
        devices=devices,
        cells=_compat_entries(cells=[cell for cell, _ in cells.most_common(cell_limit)]),
        notes=list(group.triage_notes.select_related("author")[:50]),
        audit=list(group.audit_events.select_related("actor")[:50]),
        events_in_range=total,
    )


def _zero_filled(counts: Counter, *, start: datetime, end: datetime, step: timedelta) -> list[tuple[datetime, int]]:
    """Every hour or UTC day of [start, end) with its count, zeros included: a chart spans the page's range."""
    moment = hour_floor(start) if step == HOUR else day_floor(start)
    series = []
    while moment < end:
        series.append((moment, counts.get(moment, 0)))
        moment += step
    return series


def _compat_entries(*, cells: list[tuple]) -> list[CompatEntry]:
    """The CompatEntry rows of (model version, runtime version, delegate, device model) id tuples, in one query."""
    if not cells:
        return []
    cell_filter = Q(pk__in=[])
    for cell in cells:
        cell_filter |= Q(**dict(zip(CELL_FIELDS, cell, strict=True)))
    return list(
        CompatEntry.objects.filter(cell_filter).select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate", "device_model"
        )
    )


def crash_groups_new_and_regressed(*, start: datetime, end: datetime, limit: int = 10) -> list[CrashGroup]:
    """Groups first seen in range (new) or regressed and seen in range, by affected devices."""
    return list(
        CrashGroup.objects.filter(
            Q(status=CrashGroupStatus.NEW, first_seen_at__gte=start, first_seen_at__lt=end)
            | Q(status=CrashGroupStatus.REGRESSED, last_seen_at__gte=start)
        )
        .select_related("assignee")
        .order_by("-device_count", "-last_seen_at")[:limit]
    )


CRASH_SORTS = {
    "events": "-event_count",
    "devices": "-device_count",
    "newest": "-first_seen_at",
    "recent": "-last_seen_at",
}


def crash_groups_list(*, params) -> "models.QuerySet[CrashGroup]":
    """Crash groups through the shared CrashGroupFilterSet (status, cohort, q), plus seen dates and a sort."""
    # The same filters as the API.
    filterset = CrashGroupFilterSet(params, queryset=CrashGroup.objects.select_related("assignee"))
    groups = filterset.qs if filterset.is_valid() else CrashGroup.objects.none()
    for param, lookup in (
        ("first_seen_from", "first_seen_at__date__gte"),
        ("first_seen_to", "first_seen_at__date__lte"),
        ("last_seen_from", "last_seen_at__date__gte"),
        ("last_seen_to", "last_seen_at__date__lte"),
    ):
        day = parse_date(params.get(param) or "")
        if day:
            groups = groups.filter(**{lookup: day})
    return groups.order_by(CRASH_SORTS.get(params.get("sort", ""), "-last_seen_at"), "-pk")
