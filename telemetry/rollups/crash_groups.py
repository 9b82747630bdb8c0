"""Crash-group rollups: crash reports counted per group × hour (and day) × device model, OS, model version, runtime
version and delegate.

The crash group page and the compat cell page read these rows, never the group's raw reports, so a page costs what
the combinations a group hits cost, not its crash count (DESIGN.md: dashboards read rollups). An hour's rows are
replaced from raw reports inside the hourly rollup's transaction; a day's rows are the sums of its hours.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from ..kpi.buckets import HOUR, day_floor
from ..models import CrashReport, DailyCrashGroupRollup, HourlyCrashGroupRollup
from ..models.rollups import CRASH_FIELDS
from .locks import LOCK_DAY, LOCK_HOUR, rollup_lock

BATCH_SIZE = 1000


def crash_group_hours_replace(*, start: datetime, end: datetime) -> int:
    """Replaces the hourly crash-group rows of the hour-aligned [start, end) from raw reports; returns rows written.

    The caller holds the hour's rollup lock (rollups/hourly.py) or owns the whole range (backfill, bench).
    """
    HourlyCrashGroupRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end).delete()
    rows = (
        CrashReport.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
        .annotate(bucket=TruncHour("occurred_at"))
        .values("bucket", "group_id", *CRASH_FIELDS)
        .annotate(events=Count("id"))
        .order_by()
    )
    return _rows_create(HourlyCrashGroupRollup, rows, bucket=lambda row: row["bucket"], events="events")


def crash_group_day_replace(*, start: datetime) -> int:
    """Replaces one UTC day's crash-group rows with the sums of its hourly rows; returns rows written.

    The caller holds the day's rollup lock (rollups/daily.py).
    """
    DailyCrashGroupRollup.objects.filter(bucket_start=start).delete()
    rows = (
        HourlyCrashGroupRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + timedelta(days=1))
        .values("group_id", *CRASH_FIELDS)
        .annotate(total=Sum("events"))
        .order_by()
    )
    return _rows_create(DailyCrashGroupRollup, rows, bucket=lambda row: start, events="total")


def _rows_create(model, rows, *, bucket, events: str) -> int:
    """Saves grouped `values()` rows (group_id, CRASH_FIELDS and a count) as `model` rows; returns how many."""
    created = model.objects.bulk_create(
        [
            model(
                bucket_start=bucket(row),
                events=row[events],
                group_id=row["group_id"],
                **{name: row[name] for name in CRASH_FIELDS},
            )
            for row in rows.iterator(chunk_size=BATCH_SIZE)
        ],
        batch_size=BATCH_SIZE,
    )
    return len(created)


def crash_group_rollups_move(*, source_id: int, target_id: int) -> None:
    """A merge: the source's rows become the target's (its raw reports may be past retention, so no recount)."""
    for model in (HourlyCrashGroupRollup, DailyCrashGroupRollup):
        model.objects.filter(group_id=source_id).update(group_id=target_id)


def crash_group_rollups_backfill() -> dict[str, int]:
    """Fills the crash-group rows for hours rolled up before they existed (once, after migrating); idempotent.

    Only hours whose raw reports are still kept can be counted; an hour that already has rows is left alone.
    """
    done = set(HourlyCrashGroupRollup.objects.values_list("bucket_start", flat=True).distinct())
    hours = (
        CrashReport.objects.annotate(hour=TruncHour("occurred_at")).values_list("hour", flat=True).distinct().order_by()
    )
    todo = sorted(set(hours) - done)
    for hour in todo:
        with transaction.atomic():
            rollup_lock(LOCK_HOUR, hour)
            crash_group_hours_replace(start=hour, end=hour + HOUR)
    days = sorted({day_floor(hour) for hour in todo})
    for start in days:
        with transaction.atomic():
            rollup_lock(LOCK_DAY, start)
            crash_group_day_replace(start=start)
    return {"crash-group hours": len(todo), "crash-group days": len(days)}
