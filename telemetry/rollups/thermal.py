"""Thermal rollups (telemetry/models/thermal.py): an hour's rows replaced from its raw sessions, a day's rows the sums
of its hours, and the day's devices per cell and thermal state.

Called by the rollup run (rollups/compute.py) right after the fallback rollups, each hour and day in its own
transaction under that bucket's lock, so late data re-rolls exactly as the cohort rollups do.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import msgspec
from django.conf import settings
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast, TruncHour
from django.utils import timezone

from ..kpi.buckets import DAY, HOUR, hour_floor
from ..kpi.totals import Totals
from ..models import (
    DailyThermalDevice,
    DailyThermalRollup,
    HourlySessionPartial,
    HourlyThermalRollup,
    InferenceSession,
    ThermalDeviceLastDay,
)
from ..models.thermal import THERMAL_CELL_FIELDS, thermal_state_key
from .locks import LOCK_DAY, LOCK_HOUR, rollup_lock
from .rows import hour_partials_complete

BATCH_SIZE = 1000


class _Histogram(msgspec.Struct):
    """The part of a stored LatencyHistogram a merge needs (raw sessions' keys are ints, rollups' strings)."""

    counts: dict[int, int] = {}
    zero_count: int = 0


_histogram_decode = msgspec.json.Decoder(_Histogram | None).decode
_counts_decode = msgspec.json.Decoder(dict[str, int]).decode


class ThermalSums:
    """The additive columns of one cell × state while a bucket is summed."""

    __slots__ = ("sessions", "inferences", "latency", "energy_sessions", "energy_inferences", "energy_weighted_sum")

    def __init__(self) -> None:
        self.sessions = self.inferences = self.energy_sessions = self.energy_inferences = 0
        self.energy_weighted_sum = 0.0
        self.latency = Totals()  # its latency_counts / latency_zero only: the histogram merge and wire format

    def add_histogram(self, text: str | None) -> None:
        histogram = _histogram_decode(text) if text else None
        if histogram is None:
            return
        counts = self.latency.latency_counts
        for key, count in histogram.counts.items():
            counts[str(key)] += count
        self.latency.latency_zero += histogram.zero_count

    def add_counts(self, text: str, zero_count: int) -> None:
        """Adds a partial's latency counts (JSON text, string keys) and zero count."""
        counts = self.latency.latency_counts
        for key, count in _counts_decode(text).items():
            counts[key] += count
        self.latency.latency_zero += zero_count

    def columns(self) -> dict[str, object]:
        return {
            "sessions": self.sessions, "inferences": self.inferences, "latency_histogram": self.latency.wire(),
            "energy_sessions": self.energy_sessions, "energy_inferences": self.energy_inferences,
            "energy_weighted_sum": self.energy_weighted_sum,
        }  # fmt: skip


def _cell_keys(cell: tuple) -> dict:
    return dict(zip(THERMAL_CELL_FIELDS, cell, strict=True))


def _partials_add(hour: datetime, sums: dict[tuple, ThermalSums], devices: set[tuple]) -> None:
    """Adds the hour's session partials (ingest's sums per batch × cohort × state) by cell × state."""
    rows = HourlySessionPartial.objects.filter(bucket_start=hour, sessions__gt=0).values_list(
        *THERMAL_CELL_FIELDS, "device_id", "thermal_state", "sessions", "inferences", "energy_sessions",
        "energy_inferences", "energy_weighted_sum", Cast("latency_counts", output_field=TextField()), "latency_zero",
    )  # fmt: skip
    for (
        *cell_ids,
        device_id,
        state,
        n,
        inferences,
        energy_n,
        energy_inferences,
        energy_sum,
        counts,
        zero,
    ) in rows.iterator(chunk_size=5000):
        cell = tuple(cell_ids)
        acc = sums[(cell, state)]
        acc.sessions += n
        acc.inferences += inferences
        acc.energy_sessions += energy_n
        acc.energy_inferences += energy_inferences
        acc.energy_weighted_sum += energy_sum
        acc.add_counts(counts, zero)
        devices.add((cell, state, device_id))


def _sessions_add(sessions, sums: dict[tuple, ThermalSums], devices: set[tuple]) -> None:
    """Adds raw sessions, one streamed pass (histograms decoded from their JSON text with msgspec)."""
    rows = sessions.order_by().values_list(
        *THERMAL_CELL_FIELDS, "device_id", "thermal_state", "inferences", "energy_mj_per_inference",
        Cast("latency_histogram", output_field=TextField()),
    )  # fmt: skip
    for *cell_ids, device_id, state, inferences, energy, histogram in rows.iterator(chunk_size=5000):
        cell, state = tuple(cell_ids), thermal_state_key(state)
        acc = sums[(cell, state)]
        acc.sessions += 1
        acc.inferences += inferences or 0
        if energy is not None:  # thermal.py's energy per inference: Σ e × n ÷ Σ n over the sessions reporting it
            acc.energy_sessions += 1
            acc.energy_inferences += inferences or 0
            acc.energy_weighted_sum += energy * (inferences or 0)
        acc.add_histogram(histogram)
        devices.add((cell, state, device_id))


def thermal_hour_replace(*, hour: datetime) -> bool:
    """Replaces one hour's HourlyThermalRollup rows and records its day's devices per cell × state.

    From the hour's session partials plus the raw sessions no partial covers; from every raw session of the hour
    when a partial predates the thermal grain (rows.hour_partials_complete). Re-reading the busy hour's raw
    sessions at every recompute cost the ingest bench ~0.2 of its 2 cores. Hours whose raw rows retention is
    removing keep their rows (as rollups/hourly.py does); returns whether it ran.
    """
    hour = hour_floor(hour)
    now = timezone.now()
    if hour < now - timedelta(days=settings.RAW_RETENTION_DAYS):
        return False
    with transaction.atomic():
        rollup_lock(LOCK_HOUR, hour)  # read under the lock: a concurrent recompute of the hour waits
        sums: dict[tuple, ThermalSums] = defaultdict(ThermalSums)  # (cell, state) -> sums
        devices: set[tuple] = set()  # (cell, state, device id)
        sessions = InferenceSession.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR)
        if hour_partials_complete(hour):
            _partials_add(hour, sums, devices)
            sessions = sessions.filter(in_partial=False)
        _sessions_add(sessions, sums, devices)
        HourlyThermalRollup.objects.filter(bucket_start=hour).delete()
        HourlyThermalRollup.objects.bulk_create(
            [
                HourlyThermalRollup(
                    bucket_start=hour, thermal_state=state, computed_at=now, **acc.columns(), **_cell_keys(cell)
                )
                for (cell, state), acc in sums.items()
            ],
            batch_size=BATCH_SIZE,
        )
        # Raw rows only grow while they are kept (retention removes whole old days): insert-or-ignore is exact.
        DailyThermalDevice.objects.bulk_create(
            [
                DailyThermalDevice(day=hour.date(), thermal_state=state, device_id=device_id, **_cell_keys(cell))
                for cell, state, device_id in devices
            ],
            batch_size=BATCH_SIZE,
            ignore_conflicts=True,
        )
    return True


def last_days_record(*, day: date) -> None:
    """Moves each (cell, state, device) with a DailyThermalDevice row on ``day`` to ThermalDeviceLastDay ``day``,
    unless it is already later (a late hour of an earlier day leaves it); one set-based upsert in the database."""
    quote = connection.ops.quote_name
    table, source = quote(ThermalDeviceLastDay._meta.db_table), quote(DailyThermalDevice._meta.db_table)
    key = ", ".join(map(quote, [*THERMAL_CELL_FIELDS, "thermal_state", "device_id"]))
    last = quote("last_day")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key}, {last}) SELECT {key}, {quote('day')} FROM {source} "  # noqa: S608
            f"WHERE {quote('day')} = %s ON CONFLICT ({key}) DO UPDATE SET {last} = excluded.{last} "
            f"WHERE {table}.{last} < excluded.{last}",  # the other runs of the same day write nothing
            [connection.ops.adapt_datefield_value(day)],
        )


def thermal_day_replace(*, day: date) -> None:
    """Replaces one UTC day's DailyThermalRollup rows with the sums of its hourly rows (one transaction)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    now = timezone.now()
    with transaction.atomic():
        rollup_lock(LOCK_DAY, start)
        DailyThermalRollup.objects.filter(bucket_start=start).delete()
        rows = (
            HourlyThermalRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=start + DAY)
            .order_by()
            .values_list(
                *THERMAL_CELL_FIELDS, "thermal_state", "sessions", "inferences", "energy_sessions",
                "energy_inferences", "energy_weighted_sum", Cast("latency_histogram", output_field=TextField()),
            )
        )  # fmt: skip
        sums: dict[tuple, ThermalSums] = defaultdict(ThermalSums)
        for *cell_ids, state, n, inferences, energy_n, energy_inferences, energy_sum, histogram in rows.iterator(
            chunk_size=BATCH_SIZE
        ):
            acc = sums[(tuple(cell_ids), state)]
            acc.sessions += n
            acc.inferences += inferences
            acc.energy_sessions += energy_n
            acc.energy_inferences += energy_inferences
            acc.energy_weighted_sum += energy_sum
            acc.add_histogram(histogram)
        DailyThermalRollup.objects.bulk_create(
            [
                DailyThermalRollup(
                    bucket_start=start, thermal_state=state, computed_at=now, **acc.columns(), **_cell_keys(cell)
                )
                for (cell, state), acc in sums.items()
            ],
            batch_size=BATCH_SIZE,
        )
        last_days_record(day=day)


def thermal_rollups_backfill() -> dict[str, int]:
    """Fills the thermal rollups for hours rolled up before they existed (once, after migrating); idempotent.

    Only hours whose raw sessions are still kept can be counted; an hour that already has rows is left alone.
    """
    kept_since = timezone.now() - timedelta(days=settings.RAW_RETENTION_DAYS)
    done = set(HourlyThermalRollup.objects.values_list("bucket_start", flat=True).distinct())
    hours = (
        InferenceSession.objects.filter(started_at__gte=hour_floor(kept_since) + HOUR)
        .annotate(hour=TruncHour("started_at"))
        .values_list("hour", flat=True)
        .distinct()
        .order_by()
    )
    todo = sorted(set(hours) - done)
    for hour in todo:
        thermal_hour_replace(hour=hour)
    days = sorted({hour.date() for hour in todo})
    for day in days:
        thermal_day_replace(day=day)
    return {"thermal hours": len(todo), "thermal days": len(days)}
