"""Trailing-window rollups: each preset window's fleet, device-model and compat-cell sums, rebuilt by the rollup run.

A window's rows are computed with the functions an unfiltered page reads that range with (kpi.reads: grouped_totals
over the same grain tables, grouped_devices for exact distinct devices), so a page served from them shows the same
figures as one merging the finer rows. The work is bounded by the window's coarse rows (≤ 30 days of compat-cell
and device-model rows, and the 24 h window's edge hours), never its raw sessions, except the 24 h window's
partial-day device counts, which read raw sessions as the page does. Rebuilt in one transaction, delete + insert,
under a lock per window, after the run's hours and days are committed: of two runs, the one that takes the lock last
reads both runs' rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import DateTimeField, Q, Value
from django.utils import timezone

from ..kpi.reads import grouped_device_pairs, grouped_totals
from ..kpi.totals import Totals, totals_sum
from ..kpi.trailing import CELL_FIELDS, read_span, trailing_ranges
from ..models import (
    DailyCoarseRollup,
    DailyFleetRollup,
    HourlyFleetRollup,
    TrailingGrain,
    TrailingRollup,
)
from .locks import LOCK_TRAILING, rollup_lock
from .rows import rollup_row

WINDOW_LOCK_IDS = {"24h": 1, "7d": 2, "30d": 3}  # the advisory lock's second key, one per window


def trailing_rollups_rebuild(*, hours: Iterable[datetime] | None = None, now: datetime | None = None) -> list[str]:
    """Rebuilds every window whose current range holds one of ``hours`` (every window when None); returns them."""
    now = now or timezone.now()
    touched = None if hours is None else list(hours)
    rebuilt = []
    for window, (start, end) in trailing_ranges(now).items():
        if touched is not None and not any(start <= hour < end for hour in touched):
            continue
        with transaction.atomic():
            rollup_lock(LOCK_TRAILING, datetime.fromtimestamp(WINDOW_LOCK_IDS[window] * 3600, UTC))
            _window_replace(window=window, start=start, end=end, now=now)
        rebuilt.append(window)
    return rebuilt


def _window_replace(*, window: str, start: datetime, end: datetime, now: datetime) -> None:
    everything = Q()
    fleet = grouped_totals(
        start=start, end=end, q=everything, fields=(), key=lambda row: (), daily=DailyFleetRollup,
        hourly=HourlyFleetRollup,
    ).get((), Totals())  # fmt: skip
    cells = grouped_totals(start=start, end=end, q=everything, fields=CELL_FIELDS, daily=DailyCoarseRollup)
    # A device model's sums are its cells' sums (as the home page merged them); reading the device-model grain
    # again cost as much as the cells in the 24 h window, whose edge hours only exist at the full cohort grain.
    per_device_model: dict[int, list[Totals]] = defaultdict(list)
    for cell, totals in cells.items():
        per_device_model[cell[0]].append(totals)
    device_models = {dm_id: totals_sum(parts) for dm_id, parts in per_device_model.items()}
    # Distinct devices of all three grains from one read of the window's (cell, device) pairs: never summed.
    pairs = grouped_device_pairs(start=start, end=end, q=everything, fields=CELL_FIELDS)
    cell_devices: dict[tuple, int] = defaultdict(int)
    for cell, _device in pairs:
        cell_devices[cell] += 1
    device_model_devices: dict[int, int] = defaultdict(int)
    for _dm_id, _device in {(cell[0], device) for cell, device in pairs}:
        device_model_devices[_dm_id] += 1
    fleet_devices = len({device for _cell, device in pairs})

    span_start, span_end = read_span(start, end)  # what the reads above summed: the key pages look the rows up by

    def row(grain: str, totals: Totals, devices: int, **keys) -> TrailingRollup:
        return rollup_row(
            TrailingRollup, bucket_start=span_start, totals=totals, devices=devices, now=now, window=window,
            grain=grain, range_end=span_end, **keys,
        )  # fmt: skip

    rows = [row(TrailingGrain.FLEET, fleet, fleet_devices)]  # always written: the marker that the window is built
    rows += [
        row(TrailingGrain.DEVICE_MODEL, totals, device_model_devices.get(dm_id, 0), device_model_id=dm_id)
        for dm_id, totals in device_models.items()
    ]
    rows += [
        row(TrailingGrain.CELL, totals, cell_devices.get(cell, 0), **dict(zip(CELL_FIELDS, cell, strict=True)))
        for cell, totals in cells.items()
    ]
    for built in rows:
        # An expression keeps Django's PostgreSQL bulk insert off UNNEST arrays, whose text quoting of every JSON
        # histogram (psycopg, a regex per document) was 1.3 s of a 1.9 s rebuild at 1,000 rows; VALUES rows are not.
        built.computed_at = Value(now, output_field=DateTimeField())
    TrailingRollup.objects.filter(window=window).delete()
    TrailingRollup.objects.bulk_create(rows, batch_size=500)
