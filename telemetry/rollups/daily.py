"""The daily rollups: a UTC day's DailyRollup rows summed from its hours, then its compat cells (DailyCoarseRollup),
its coarser grains and its crash-group rows, each replaced in one transaction under the day's lock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from ..kpi.buckets import DAY
from ..kpi.totals import SUM_COLUMNS, Totals
from ..models import DailyCoarseRollup, DailyRollup, DeviceActivityDay, HourlyRollup
from ..models.rollups import COARSE_FIELDS, COHORT_FIELDS
from .crash_groups import crash_group_day_replace
from .grains import day_grains_replace
from .locks import LOCK_DAY, LOCK_DAY_COARSE, rollup_lock
from .rows import Cohort, cohort_of, cohort_row, rollup_row


def rollup_day_compute(*, day: date) -> None:
    """Replaces one UTC day's DailyRollup rows with the sums of its hourly rows (one transaction)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    now = timezone.now()
    with transaction.atomic():
        rollup_lock(LOCK_DAY, start)
        DailyRollup.objects.filter(bucket_start=start).delete()
        per_cohort: dict[Cohort, Totals] = defaultdict(Totals)
        rows = HourlyRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + DAY).values(
            *COHORT_FIELDS, *SUM_COLUMNS
        )
        for row in rows:
            per_cohort[cohort_of(row)].add_row(row)
        devices = DeviceActivityDay.objects.filter(day=day).values(*COHORT_FIELDS).annotate(n=Count("device_id"))
        for cohort_totals in per_cohort.values():
            cohort_totals.devices = 0  # the sum of hourly devices double counts; the activity table is exact
        for row in devices:
            if cohort_of(row) in per_cohort:
                per_cohort[cohort_of(row)].devices = row["n"]
        DailyRollup.objects.bulk_create(
            [cohort_row(DailyRollup, start, cohort, totals, now) for cohort, totals in per_cohort.items()],
            batch_size=500,
        )
        crash_group_day_replace(start=start)
        rollup_day_coarse_compute(day=day)


def rollup_day_coarse_compute(*, day: date) -> None:
    """Replaces one UTC day's DailyCoarseRollup rows with its DailyRollup rows summed per compat cell.

    Then the day's coarser grains (rollups/grains.py) from those rows, in the same transaction.
    """
    _day_coarse_replace(start=datetime(day.year, day.month, day.day, tzinfo=UTC), day=day)


def _day_coarse_replace(*, start: datetime, day: date) -> None:
    """rollup_day_coarse_compute for the daily rows at ``start`` (perf/dashboard_bench.py loads unaligned days)."""
    now = timezone.now()
    with transaction.atomic():
        rollup_lock(LOCK_DAY_COARSE, start)
        DailyCoarseRollup.objects.filter(bucket_start=start).delete()
        per_cell: dict[tuple, Totals] = defaultdict(Totals)
        for row in DailyRollup.objects.filter(bucket_start=start).values(*COARSE_FIELDS, *SUM_COLUMNS):
            per_cell[tuple(row[name] for name in COARSE_FIELDS)].add_row(row)
        # A device counted under two app/os versions of one cell is one device: count distinct, not the sum.
        devices = (
            DeviceActivityDay.objects.filter(day=day)
            .values(*COARSE_FIELDS)
            .annotate(n=Count("device_id", distinct=True))
        )
        found = {tuple(row[name] for name in COARSE_FIELDS): row["n"] for row in devices}
        for cell, totals in per_cell.items():
            totals.devices = found.get(cell, 0)
        DailyCoarseRollup.objects.bulk_create(
            [
                rollup_row(
                    DailyCoarseRollup,
                    bucket_start=start,
                    totals=t,
                    devices=t.devices,
                    now=now,
                    **dict(zip(COARSE_FIELDS, cell, strict=True)),
                )
                for cell, t in per_cell.items()
            ],
            batch_size=500,
        )
        day_grains_replace(start=start, day=day, now=now)
