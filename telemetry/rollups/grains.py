"""Rollup grains coarser than the compat cell, kept by the same rollup task as the cohort rollups.

Per hour: the fleet (HourlyFleetRollup) and the (device, device model) pairs seen (DeviceModelDevice). Per UTC
day: each device model (DailyDeviceModelRollup), the fleet (DailyFleetRollup) and distinct devices per model
version (DailyModelVersionDevices). Each bucket's rows are replaced (delete + insert) from the finer rollups of the
same bucket inside the caller's transaction, under the lock that serializes that bucket, so recomputing an hour or
a day yields the same rows. Sums and histograms come from the finer rows; distinct devices are counted afresh
(from the hour's raw rows, or DeviceActivityDay), never summed, because a device active in two cohorts is one
device."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from ..kpi.buckets import DAY, HOUR
from ..kpi.totals import SUM_COLUMNS, Totals, totals_sum
from ..models import (
    DailyCoarseRollup,
    DailyDeviceModelRollup,
    DailyFleetRollup,
    DailyModelVersionDevices,
    DeviceActivityDay,
    DeviceModelDevice,
    HourlyFleetRollup,
    HourlyRollup,
    InferenceSession,
)
from .locks import LOCK_DAY_COARSE, LOCK_HOUR, rollup_lock
from .rows import rollup_row


def hour_fleet_replace(*, hour: datetime, cohort_totals: Iterable, device_ids: set[int], now: datetime) -> None:
    """Replaces the hour's HourlyFleetRollup row with the sum of its cohorts (call in the hour's transaction)."""
    HourlyFleetRollup.objects.filter(bucket_start=hour).delete()
    parts = list(cohort_totals)
    if not parts:
        return
    total: Totals = totals_sum(parts)
    row = rollup_row(HourlyFleetRollup, bucket_start=hour, totals=total, devices=len(device_ids), now=now)
    row.fallback_sessions = sum(part.fallback_sessions for part in parts)
    HourlyFleetRollup.objects.bulk_create([row])


def device_models_seen_record(*, activity: Iterable[tuple[int, int]]) -> None:
    """Records (device id, device model id) pairs; insert-or-ignore, so re-running an hour changes nothing."""
    DeviceModelDevice.objects.bulk_create(
        [DeviceModelDevice(device_id=device_id, device_model_id=dm_id) for device_id, dm_id in set(activity)],
        batch_size=1000,
        ignore_conflicts=True,
    )


def day_grains_replace(*, start: datetime, day: date, now: datetime) -> None:
    """Replaces one day's device-model, fleet and model-version-devices rows (call in the day's coarse transaction).

    Sums come from the day's DailyCoarseRollup rows (already the sum of its hours); devices from DeviceActivityDay.
    """
    per_device_model: dict[int, Totals] = defaultdict(Totals)
    fleet = Totals()
    for row in DailyCoarseRollup.objects.filter(bucket_start=start).values("device_model_id", *SUM_COLUMNS):
        row["devices"] = 0  # counted below: a device in two cells is one device
        per_device_model[row["device_model_id"]].add_row(row)
        fleet.add_row(row)
    activity = DeviceActivityDay.objects.filter(day=day)
    dm_devices = dict(
        activity.values("device_model_id")
        .annotate(n=Count("device_id", distinct=True))
        .values_list("device_model_id", "n")
    )
    mv_devices = activity.values("model_version_id").annotate(n=Count("device_id", distinct=True))
    DailyDeviceModelRollup.objects.filter(bucket_start=start).delete()
    DailyFleetRollup.objects.filter(bucket_start=start).delete()
    DailyModelVersionDevices.objects.filter(day=day).delete()
    DailyDeviceModelRollup.objects.bulk_create(
        [
            rollup_row(
                DailyDeviceModelRollup, bucket_start=start, totals=totals, devices=dm_devices.get(dm_id, 0), now=now,
                device_model_id=dm_id,
            )
            for dm_id, totals in per_device_model.items()
        ]
    )  # fmt: skip
    if per_device_model:
        fleet_devices = activity.aggregate(n=Count("device_id", distinct=True))["n"]
        row = rollup_row(DailyFleetRollup, bucket_start=start, totals=fleet, devices=fleet_devices, now=now)
        # The cell rows keep no fallback count: the day's fleet hours do (each replaced in its hour's transaction).
        row.fallback_sessions = (
            HourlyFleetRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + DAY).aggregate(
                n=Sum("fallback_sessions")
            )["n"]
            or 0
        )
        DailyFleetRollup.objects.bulk_create([row])
    DailyModelVersionDevices.objects.bulk_create(
        [
            DailyModelVersionDevices(day=day, model_version_id=row["model_version_id"], devices=row["n"])
            for row in mv_devices
        ]
    )


def rollup_grains_backfill() -> dict[str, int]:
    """Fills the coarse grains for rollups computed before they existed (once, after migrating); idempotent.

    Pairs come from DeviceActivityDay and days from their DailyCoarseRollup rows (both exact). A fleet hour sums its
    HourlyRollup rows; its devices are the hour's distinct raw devices while raw rows are kept, else the sum of its
    cohorts' devices (an upper bound: raw rows past retention are gone).
    """
    now = timezone.now()
    pairs = DeviceActivityDay.objects.values_list("device_id", "device_model_id").distinct()
    device_models_seen_record(activity=pairs.iterator(chunk_size=5000))
    days = sorted(set(DailyCoarseRollup.objects.values_list("bucket_start", flat=True)))
    for start in days:
        with transaction.atomic():
            rollup_lock(LOCK_DAY_COARSE, start)
            day_grains_replace(start=start, day=start.date(), now=now)
    done = set(HourlyFleetRollup.objects.values_list("bucket_start", flat=True))
    hours = sorted(set(HourlyRollup.objects.values_list("bucket_start", flat=True)) - done)
    for hour in hours:
        with transaction.atomic():
            rollup_lock(LOCK_HOUR, hour)
            parts = []
            for row in HourlyRollup.objects.filter(bucket_start=hour).values(*SUM_COLUMNS):
                totals = Totals()
                totals.add_row(row)
                parts.append(totals)
            raw = InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR)
            device_ids = set(raw.values_list("device_id", flat=True).distinct())
            hour_fleet_replace(hour=hour, cohort_totals=parts, device_ids=device_ids, now=now)
            if not device_ids:  # raw rows gone: the cohorts' summed devices (an upper bound)
                HourlyFleetRollup.objects.filter(bucket_start=hour).update(devices=sum(p.devices for p in parts))
    return {"pairs": DeviceModelDevice.objects.count(), "days": len(days), "hours": len(hours)}
