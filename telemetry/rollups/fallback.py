"""Fallback rollups (telemetry/models/fallback.py): an hour's rows replaced from its raw sessions, a day's rows the
sums of its hours, and the day's devices that fell back on each op.

Called by the rollup run (rollups/compute.py) after the hourly and daily cohort rollups, each hour and day in its own
transaction under that bucket's lock, so late data re-rolls exactly as the cohort rollups do.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from ..kpi.buckets import DAY, HOUR, hour_floor
from ..models import (
    DailyFallbackDevice,
    DailyFallbackRollup,
    Device,
    HourlyFallbackPartial,
    HourlyFallbackRollup,
    HourlySessionPartial,
    InferenceSession,
)
from ..models.fallback import ALL_SESSIONS, FALLBACK_CELL_FIELDS, fallback_ops_normalized
from .locks import LOCK_DAY, LOCK_HOUR, rollup_lock
from .rows import hour_partials_complete

BATCH_SIZE = 1000


def _cell_keys(cell: tuple) -> dict:
    return dict(zip(FALLBACK_CELL_FIELDS, cell, strict=True))


def _add(sums: dict, cell: tuple, firmware: str | None, op: str, n: int, weighted, weight) -> None:
    acc = sums[(cell, firmware or "", op)]
    acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + (weighted or 0.0), acc[2] + (weight or 0)


def _firmware_of(device_ids: set[int]) -> dict[int, str]:
    # Looked up apart from the grouped scans: joined into them, a partition whose statistics lag its rows (a new
    # day's, or autovacuum off) got a nested loop over every device's sessions of the hour, ~2.4 s on 1.7 M rows
    # for a scan whose partial index returns nothing.
    return dict(Device.objects.filter(id__in=device_ids).values_list("id", "firmware")) if device_ids else {}


def _partials_add(hour: datetime, sums: dict, devices: set[tuple]) -> None:
    """Adds the hour's partials: every session from the session partials, each op from the fallback partials;
    firmware the device's now (looked up after the grouped reads), as for raw sessions."""
    totals = Sum("sessions"), Sum("accelerated_weighted_sum"), Sum("accelerated_weight")
    every = list(
        HourlySessionPartial.objects.filter(bucket_start=hour, sessions__gt=0)
        .order_by()
        .values_list(*FALLBACK_CELL_FIELDS, "device_id")
        .annotate(*totals)
    )
    ops = list(
        HourlyFallbackPartial.objects.filter(bucket_start=hour)
        .order_by()
        .values_list(*FALLBACK_CELL_FIELDS, "device_id", "op")
        .annotate(*totals)
    )
    firmware = _firmware_of({row[len(FALLBACK_CELL_FIELDS)] for row in (*every, *ops)})
    for *cell_ids, device_id, n, weighted, weight in every:
        _add(sums, tuple(cell_ids), firmware.get(device_id), ALL_SESSIONS, n, weighted, weight)
    for *cell_ids, device_id, op, n, weighted, weight in ops:
        _add(sums, tuple(cell_ids), firmware.get(device_id), op, n, weighted, weight)
        devices.add((tuple(cell_ids), op, device_id))


def _sessions_add(sessions, sums: dict, devices: set[tuple]) -> None:
    """Adds raw sessions: one grouped scan, (cell, device, fallback list) with sessions and accelerated sums."""
    reporting = Q(accelerated_fraction__isnull=False)
    rows = list(
        sessions.order_by()
        .values_list(*FALLBACK_CELL_FIELDS, "device_id", "fallback_ops")
        .annotate(
            n=Count("id"),
            ws=Sum(F("accelerated_fraction") * F("inferences"), filter=reporting, output_field=FloatField()),
            w=Sum("inferences", filter=reporting),
        )
    )
    firmware = _firmware_of({row[len(FALLBACK_CELL_FIELDS)] for row in rows})
    for *cell_ids, device_id, fallback_ops, n, weighted, weight in rows:
        cell = tuple(cell_ids)
        for op in (ALL_SESSIONS, *fallback_ops_normalized(fallback_ops)):
            _add(sums, cell, firmware.get(device_id), op, n, weighted, weight)
            if op != ALL_SESSIONS:
                devices.add((cell, op, device_id))


def fallback_hour_replace(*, hour: datetime) -> bool:
    """Replaces one hour's HourlyFallbackRollup rows and records its days' devices that fell back.

    From the hour's partials plus the raw sessions no partial covers; from every raw session of the hour when a
    partial predates the fallback grain (rows.hour_partials_complete). Hours whose raw rows retention is removing
    keep their rows (as rollups/hourly.py does); returns whether it ran.
    """
    hour = hour_floor(hour)
    now = timezone.now()
    if hour < now - timedelta(days=settings.RAW_RETENTION_DAYS):
        return False
    with transaction.atomic():
        rollup_lock(LOCK_HOUR, hour)  # read under the lock: a concurrent recompute of the hour waits
        sums: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0])  # (cell, firmware, op) -> sessions, weighted, weight
        devices: set[tuple] = set()  # (cell, op, device id)
        sessions = InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR)
        if hour_partials_complete(hour):
            _partials_add(hour, sums, devices)
            sessions = sessions.filter(in_partial=False)
        _sessions_add(sessions, sums, devices)
        HourlyFallbackRollup.objects.filter(bucket_start=hour).delete()
        HourlyFallbackRollup.objects.bulk_create(
            [
                HourlyFallbackRollup(
                    bucket_start=hour, firmware=firmware, op=op, sessions=n, accelerated_weighted_sum=ws,
                    accelerated_weight=w, computed_at=now, **_cell_keys(cell),
                )
                for (cell, firmware, op), (n, ws, w) in sums.items()
            ],
            batch_size=BATCH_SIZE,
        )  # fmt: skip
        # Raw rows only grow while they are kept (retention removes whole old days): insert-or-ignore is exact.
        DailyFallbackDevice.objects.bulk_create(
            [
                DailyFallbackDevice(day=hour.date(), op=op, device_id=device_id, **_cell_keys(cell))
                for cell, op, device_id in devices
            ],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
    return True


def fallback_day_replace(*, day: date) -> None:
    """Replaces one UTC day's DailyFallbackRollup rows with the sums of its hourly rows (one transaction)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    now = timezone.now()
    with transaction.atomic():
        rollup_lock(LOCK_DAY, start)
        DailyFallbackRollup.objects.filter(bucket_start=start).delete()
        rows = (
            HourlyFallbackRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + DAY)
            .order_by()
            .values_list(*FALLBACK_CELL_FIELDS, "firmware", "op")
            .annotate(n=Sum("sessions"), ws=Sum("accelerated_weighted_sum"), w=Sum("accelerated_weight"))
        )
        DailyFallbackRollup.objects.bulk_create(
            [
                DailyFallbackRollup(
                    bucket_start=start, firmware=firmware, op=op, sessions=n, accelerated_weighted_sum=ws,
                    accelerated_weight=w, computed_at=now, **_cell_keys(tuple(cell)),
                )
                for *cell, firmware, op, n, ws, w in rows.iterator(chunk_size=BATCH_SIZE)
            ],
            batch_size=BATCH_SIZE,
        )  # fmt: skip


def fallback_rollups_backfill() -> dict[str, int]:
    """Fills the fallback rollups for hours rolled up before they existed (once, after migrating); idempotent.

    Only hours whose raw sessions are still kept can be counted; an hour that already has rows is left alone.
    """
    kept_since = timezone.now() - timedelta(days=settings.RAW_RETENTION_DAYS)
    done = set(HourlyFallbackRollup.objects.values_list("bucket_start", flat=True).distinct())
    hours = (
        InferenceSession.objects.filter(started_at__gte=hour_floor(kept_since) + HOUR)
        .annotate(hour=TruncHour("started_at"))
        .values_list("hour", flat=True)
        .distinct()
        .order_by()
    )
    todo = sorted(set(hours) - done)
    for hour in todo:
        fallback_hour_replace(hour=hour)
    days = sorted({hour.date() for hour in todo})
    for day in days:
        fallback_day_replace(day=day)
    return {"fallback hours": len(todo), "fallback days": len(days)}
