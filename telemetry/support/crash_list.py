"""Figures of the crash list, for one page of groups at a time: daily sparklines and the affected cohort's share.

Each figure has one definition here, used by the page and its CSV/JSON export:
- sparkline: crash reports per UTC day of the range, from the daily crash-group rollups (one query for the page);
- cohort share: devices the group hit in the range ÷ devices active in the range on the device models it hit.
  Both counts cover the UTC days the range touches: hits from raw crash reports (index on group, time), active
  devices from DeviceActivityDay (a device has one device model, so the per-model counts add up).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Sum

from ..kpi.buckets import DAY, day_floor
from ..models import CrashGroup, CrashReport, DailyCrashGroupRollup, DeviceActivityDay

SPARK_WIDTH, SPARK_HEIGHT = 120, 24
EXPORT_FIELDS = (
    "id", "title", "status", "kind", "fingerprint", "resolved_in_version", "event_count", "device_count",
    "first_seen_at", "last_seen_at", "events_in_range", "devices_hit_in_range", "cohort_active_devices",
    "cohort_share", "daily_events",
)  # fmt: skip


@dataclass
class CrashGroupFigures:
    """One listed group's figures over the page's range."""

    daily_events: list[int] = field(default_factory=list)
    events_in_range: int = 0
    devices_hit: int = 0
    cohort_devices: int = 0

    @property
    def cohort_share(self) -> float | None:
        return self.devices_hit / self.cohort_devices if self.cohort_devices else None

    @property
    def cohort_percent(self) -> float | None:
        share = self.cohort_share
        return None if share is None else 100 * share

    @property
    def sparkline_points(self) -> str:
        """The SVG polyline's points (x across the days, y up with the count), for a tiny inline sparkline."""
        counts = self.daily_events
        top = max(counts, default=0) or 1
        step = SPARK_WIDTH / max(len(counts) - 1, 1)
        return " ".join(
            f"{i * step:.1f},{SPARK_HEIGHT - 1 - (n / top) * (SPARK_HEIGHT - 2):.1f}" for i, n in enumerate(counts)
        )


def range_days(start: datetime, end: datetime) -> list[datetime]:
    """The UTC days [start, end) touches."""
    day, days = day_floor(start), []
    while day < end:
        days.append(day)
        day += DAY
    return days


def crash_groups_figures(*, group_ids: list[int], start: datetime, end: datetime) -> dict[int, CrashGroupFigures]:
    """Sparkline and cohort share of each group (three queries whatever the number of groups)."""
    days = range_days(start, end)
    if not group_ids or not days:
        return {}
    first, stop = days[0], days[-1] + DAY
    index = {day: i for i, day in enumerate(days)}
    figures = {group_id: CrashGroupFigures(daily_events=[0] * len(days)) for group_id in group_ids}
    daily = (
        DailyCrashGroupRollup.objects.filter(group_id__in=group_ids, bucket_start__gte=first, bucket_start__lt=stop)
        .values("group_id", "bucket_start")
        .annotate(events=Sum("events"))
    )
    for row in daily:
        figure = figures[row["group_id"]]
        figure.daily_events[index[row["bucket_start"]]] += row["events"]
        figure.events_in_range += row["events"]
    hits = (
        CrashReport.objects.filter(group_id__in=group_ids, occurred_at__gte=first, occurred_at__lt=stop)
        .values("group_id", "device_model_id")
        .annotate(devices=Count("device_id", distinct=True))
    )
    models_hit: dict[int, set[int]] = defaultdict(set)
    for row in hits:
        figures[row["group_id"]].devices_hit += row["devices"]
        models_hit[row["group_id"]].add(row["device_model_id"])
    every_model = set().union(*models_hit.values())
    active = {}
    if every_model:
        active = dict(
            DeviceActivityDay.objects.filter(
                day__gte=first.date(), day__lte=(stop - timedelta(days=1)).date(), device_model_id__in=every_model
            )
            .values_list("device_model_id")
            .annotate(devices=Count("device_id", distinct=True))
        )
    for group_id, model_ids in models_hit.items():
        figures[group_id].cohort_devices = sum(active.get(model_id, 0) for model_id in model_ids)
    return figures


def crash_groups_in_range(groups, *, start: datetime, end: datetime):
    """Groups seen in [start, end): first seen before its end, last seen after its start."""
    return groups.filter(first_seen_at__lt=end, last_seen_at__gte=start)


def crash_group_export_rows(*, groups: list[CrashGroup], figures: dict[int, CrashGroupFigures]) -> list[dict]:
    """The export's rows: the list's columns and figures, one dict per group."""
    rows = []
    for group in groups:
        figure = figures.get(group.pk, CrashGroupFigures())
        share = figure.cohort_share
        rows.append({
            "id": group.pk, "title": group.title, "status": group.status, "kind": group.kind,
            "fingerprint": group.fingerprint, "resolved_in_version": group.resolved_in_version,
            "event_count": group.event_count, "device_count": group.device_count,
            "first_seen_at": group.first_seen_at.isoformat(), "last_seen_at": group.last_seen_at.isoformat(),
            "events_in_range": figure.events_in_range, "devices_hit_in_range": figure.devices_hit,
            "cohort_active_devices": figure.cohort_devices,
            "cohort_share": round(share, 6) if share is not None else None,
            "daily_events": figure.daily_events,
        })  # fmt: skip
    return rows
