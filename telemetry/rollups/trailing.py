"""Trailing-window rollups: each preset window's fleet, device-model and compat-cell sums, rebuilt by the rollup run.

A window's rows are computed with the functions an unfiltered page reads that range with (kpi.reads: grouped_totals
over the same grain tables, grouped_devices for exact distinct devices), so a page served from them shows the same
figures as one merging the finer rows. The work is bounded by the window's coarse rows (≤ 30 days of compat-cell
and device-model rows, and the 24 h window's edge hours), never its raw sessions, except the 24 h window's
partial-day device counts, which read raw sessions as the page does. Rebuilt in one transaction, delete + insert,
under a lock per window, after the run's hours and days are committed: of two runs, the one that takes the lock last
reads both runs' rows.

Incremental (the 7- and 30-day windows, whose span is whole UTC days ending with today): the closed days (all but
today) are summed once into TrailingClosedRollup rows, and each run adds only today's daily rows to them. Exact
distinct devices stay exact without keeping device sets: a window's devices are the closed days' devices plus
today's devices with no activity row of the same grain value in the closed days (an index probe per device of
today, DeviceActivityDay's device-first index). The closed rows are summed again when the window's first day moves
(a day rolled over), when a run recomputed a closed day (late data: its hours, or a closed daily row computed after
them), and on a full rebuild (hours=None).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import DateTimeField, Exists, Max, OuterRef, Q, Value
from django.utils import timezone

from ..kpi.buckets import DAY
from ..kpi.coverage import lacking_devices
from ..kpi.kpis import QUANTILE_COLUMNS, totals_quantiles
from ..kpi.reads import grouped_device_pairs, grouped_totals, merge_rows_fast, range_pieces
from ..kpi.totals import SCALAR_SUM_COLUMNS, SUM_COLUMNS, Totals, totals_sum
from ..kpi.windows import CELL_FIELDS, read_span, trailing_range_pairs
from ..models import (
    DailyCoarseRollup,
    DailyFleetRollup,
    DeviceActivityDay,
    HourlyFleetRollup,
    TrailingClosedRollup,
    TrailingGrain,
    TrailingRollup,
)
from .locks import LOCK_TRAILING, rollup_lock
from .rows import rollup_row

WINDOW_LOCK_IDS = {"24h": 1, "7d": 2, "30d": 3}  # the advisory lock's second key, one per window


def trailing_rollups_rebuild(*, hours: Iterable[datetime] | None = None, now: datetime | None = None) -> list[str]:
    """Rebuilds every window whose current range or previous period holds one of ``hours`` (every window, closed
    days summed again, when None); returns them."""
    now = now or timezone.now()
    touched = None if hours is None else list(hours)
    rebuilt = []
    for window, ((start, end), previous) in trailing_range_pairs(now).items():
        held = (start, end), previous
        if touched is not None and not any(a <= hour < b for hour in touched for a, b in held):
            continue
        with transaction.atomic():
            rollup_lock(LOCK_TRAILING, datetime.fromtimestamp(WINDOW_LOCK_IDS[window] * 3600, UTC))
            _window_replace(window=window, start=start, end=end, previous=previous, now=now, touched=touched)
        rebuilt.append(window)
    return rebuilt


@dataclass
class WindowSums:
    """One range's fleet, device-model, cell and (model version × device model) pair Totals, each with its exact
    distinct devices in ``devices``."""

    fleet: Totals
    device_models: dict[int, Totals]
    cells: dict[tuple, Totals]
    pairs: dict[tuple[int, int], Totals] = field(default_factory=dict)  # by (model version id, device model id)


def _window_replace(
    *, window: str, start: datetime, end: datetime, previous: tuple[datetime, datetime], now: datetime, touched
) -> None:
    span_start, span_end = read_span(start, end)  # what the reads sum: the key pages look the rows up by
    edges, _days = range_pieces(start, end)
    today = span_end - DAY
    if edges or today <= span_start:  # the 24 h window (hourly edges), or a one-day span: no closed days to keep
        sums = _range_sums(start, end)
    else:
        closed = _closed_read(window=window, start=span_start, end=today, touched=touched)
        if closed is None:
            built_at = timezone.now()  # before the reads: a day recomputed meanwhile is newer, so summed again
            closed = _range_sums(span_start, today)
            _rows_write(TrailingClosedRollup, window, closed, span_start, today, built_at)
        sums = _today_added(closed, start=span_start, today=today)
    # The release card's devices lacking a KPI field, counted as its read counts them (few rows: lacking days only).
    lacking = lacking_devices(start=start, end=end)
    # The previous period, for the trends: the fleet grains as an unfiltered kpis_get reads them (devices not counted).
    before = _fleet_sums(*previous)
    _rows_write(TrailingRollup, window, sums, span_start, span_end, now, lacking=lacking, previous=(previous, before))


def _fleet_sums(start: datetime, end: datetime) -> Totals:
    """[start, end) of the fleet grains, summed as an unfiltered kpis_get sums them (devices left 0)."""
    return grouped_totals(
        start=start, end=end, q=Q(), fields=(), key=lambda row: (), daily=DailyFleetRollup, hourly=HourlyFleetRollup
    ).get((), Totals())


def _range_sums(start: datetime, end: datetime, *, devices: bool = True) -> WindowSums:
    """[start, end) summed from the grain tables as an unfiltered page reads them (kpi.reads), devices exact
    (``devices=False``: left 0, for callers that count them otherwise)."""
    everything = Q()
    fleet = _fleet_sums(start, end)
    cells = grouped_totals(start=start, end=end, q=everything, fields=CELL_FIELDS, daily=DailyCoarseRollup)
    # A device model's sums are its cells' sums (as the home page merged them); reading the device-model grain
    # again cost as much as the cells in the 24 h window, whose edge hours only exist at the full cohort grain.
    per_device_model: dict[int, list[Totals]] = defaultdict(list)
    for cell, totals in cells.items():
        per_device_model[cell[0]].append(totals)
    device_models = {dm_id: totals_sum(parts) for dm_id, parts in per_device_model.items()}
    pairs = _pairs_summed(cells)
    for totals in (fleet, *cells.values(), *device_models.values(), *pairs.values()):
        totals.devices = 0
    if not devices:
        return WindowSums(fleet, device_models, cells, pairs)
    # Distinct devices of all three grains from one read of the window's (cell, device) pairs: never summed.
    active = grouped_device_pairs(start=start, end=end, q=everything, fields=CELL_FIELDS)
    for cell, _device in active:
        if cell in cells:  # a pair of raw sessions not rolled up yet makes no row (grouped_totals is a defaultdict)
            cells[cell].devices += 1
    for dm_id, _device in {(cell[0], device) for cell, device in active}:
        if dm_id in device_models:
            device_models[dm_id].devices += 1
    for pair, _device in {((cell[1], cell[0]), device) for cell, device in active}:
        if pair in pairs:
            pairs[pair].devices += 1
    fleet.devices = len({device for _cell, device in active})
    return WindowSums(fleet, device_models, cells, pairs)


def _pairs_summed(cells: dict[tuple, Totals]) -> dict[tuple[int, int], Totals]:
    """Each (model version, device model) pair's scalar sums, its cells' (devices left to the caller). No histograms:
    lab coverage reads a pair's sessions and devices only, and the histograms were most of writing its row."""
    pairs: dict[tuple[int, int], Totals] = defaultdict(Totals)
    for (dm_id, mv_id, _rv, _delegate), totals in cells.items():
        pair = pairs[(mv_id, dm_id)]
        for name in SCALAR_SUM_COLUMNS:
            setattr(pair, name, getattr(pair, name) + getattr(totals, name))
    return dict(pairs)


def _closed_read(*, window: str, start: datetime, end: datetime, touched) -> WindowSums | None:
    """The window's closed-day sums kept by an earlier run, or None when they must be summed again (docstring)."""
    if touched is None or any(start <= hour < end for hour in touched):
        return None
    marker = list(
        TrailingClosedRollup.objects.filter(window=window, grain=TrailingGrain.FLEET).values(
            "bucket_start", "range_end", "computed_at"
        )
    )
    if len(marker) != 1 or (marker[0]["bucket_start"], marker[0]["range_end"]) != (start, end):
        return None
    newest_day = DailyCoarseRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end).aggregate(
        at=Max("computed_at")
    )["at"]
    if newest_day is not None and newest_day > marker[0]["computed_at"]:
        return None
    fields = ("grain", *CELL_FIELDS)
    groups: dict[tuple, Totals] = defaultdict(Totals)  # devices included: exact for the closed days
    rows = TrailingClosedRollup.objects.filter(window=window)
    if connection.vendor == "postgresql":  # histograms as text for msgspec: the ORM's JSON decoding was most of it
        merge_rows_fast(rows, fields=fields, key=lambda row: tuple(row[f] for f in fields), groups=groups)
    else:
        for row in rows.values(*fields, *SUM_COLUMNS):
            groups[tuple(row[f] for f in fields)].add_row(row)
    sums = WindowSums(Totals(), {}, {})
    for (grain, *cell), totals in groups.items():
        if grain == TrailingGrain.FLEET:
            sums.fleet = totals
        elif grain == TrailingGrain.DEVICE_MODEL:
            sums.device_models[cell[0]] = totals
        elif grain == TrailingGrain.PAIR:
            sums.pairs[(cell[1], cell[0])] = totals
        else:
            sums.cells[tuple(cell)] = totals
    return sums


def _today_added(closed: WindowSums, *, start: datetime, today: datetime) -> WindowSums:
    """The closed-day sums plus today's daily rows; devices: closed ones plus today's first seen in the window."""
    current = _range_sums(today, today + DAY, devices=False)  # today's daily rows only; devices counted below
    new = _devices_new(start=start, today=today)

    def added(before: Totals | None, part: Totals | None, new: int) -> Totals:
        total = totals_sum([t for t in (before, part) if t is not None])
        total.devices = (before.devices if before is not None else 0) + new
        return total

    fleet = added(closed.fleet, current.fleet, new.fleet)
    device_models = {
        dm: added(closed.device_models.get(dm), current.device_models.get(dm), new.device_models.get(dm, 0))
        for dm in closed.device_models.keys() | current.device_models.keys()
    }
    cells = {
        cell: added(closed.cells.get(cell), current.cells.get(cell), new.cells.get(cell, 0))
        for cell in closed.cells.keys() | current.cells.keys()
    }
    pairs = {
        pair: added(closed.pairs.get(pair), current.pairs.get(pair), new.pairs.get(pair, 0))
        for pair in closed.pairs.keys() | current.pairs.keys()
    }
    return WindowSums(fleet, device_models, cells, pairs)


@dataclass(frozen=True)
class NewDevices:
    """Devices active today with no activity row of the same cell / device model / pair / at all in the closed days."""

    cells: dict[tuple, int]
    device_models: dict[int, int]
    pairs: dict[tuple[int, int], int]  # by (model version id, device model id)
    fleet: int


def _devices_new(*, start: datetime, today: datetime) -> NewDevices:
    """Devices active today with no activity row of the same cell / device model / pair / at all in [start, today).
    One query: a device new to its device model, its pair or the fleet is new to each of its cells today, so only
    today's pairs new to their cell are probed further (most devices were seen before).
    """
    closed = DeviceActivityDay.objects.filter(
        day__gte=start.date(), day__lt=today.date(), device_id=OuterRef("device_id")
    )
    rows = (
        DeviceActivityDay.objects.filter(day=today.date())
        .filter(~Exists(closed.filter(**{name: OuterRef(name) for name in CELL_FIELDS})))
        .annotate(
            seen_dm=Exists(closed.filter(device_model_id=OuterRef("device_model_id"))),
            seen_pair=Exists(
                closed.filter(
                    device_model_id=OuterRef("device_model_id"), model_version_id=OuterRef("model_version_id")
                )
            ),
            seen=Exists(closed),
        )
        .values_list(*CELL_FIELDS, "device_id", "seen_dm", "seen_pair", "seen")
        .distinct()
    )
    cells: dict[tuple, set] = defaultdict(set)
    device_models: dict[int, set] = defaultdict(set)
    pairs: dict[tuple[int, int], set] = defaultdict(set)
    fleet: set[int] = set()
    for *cell, device, seen_dm, seen_pair, seen in rows:
        cells[tuple(cell)].add(device)
        if not seen_dm:
            device_models[cell[0]].add(device)
        if not seen_pair:
            pairs[(cell[1], cell[0])].add(device)
        if not seen:
            fleet.add(device)

    def counted(groups: dict) -> dict:
        return {group: len(devices) for group, devices in groups.items()}

    return NewDevices(counted(cells), counted(device_models), counted(pairs), len(fleet))


def _rows_write(
    model,
    window: str,
    sums: WindowSums,
    start: datetime,
    end: datetime,
    computed_at: datetime,
    *,
    lacking: int = 0,
    previous: tuple[tuple[datetime, datetime], Totals] | None = None,
) -> None:
    """Replaces the window's rows of ``model`` with ``sums`` over [start, end); TrailingRollup rows also carry their
    KPI quantiles (computed from the row's own histograms, kpi.kpis), the fleet row the devices lacking a field, and
    a row for the fleet over ``previous`` ((its range, its Totals)) when given."""
    pages_read = model is TrailingRollup

    def row(grain: str, totals: Totals, *, bounds: tuple[datetime, datetime] = (start, end), **keys):
        if pages_read:
            keys.update(zip(QUANTILE_COLUMNS, totals_quantiles(totals), strict=True))
        return rollup_row(
            model, bucket_start=bounds[0], totals=totals, devices=totals.devices, now=computed_at, window=window,
            grain=grain, range_end=bounds[1], **keys,
        )  # fmt: skip

    # Always written: the marker that the window is built.
    rows = [row(TrailingGrain.FLEET, sums.fleet, **({"lacking_devices": lacking} if pages_read else {}))]
    rows += [
        row(TrailingGrain.DEVICE_MODEL, totals, device_model_id=dm_id) for dm_id, totals in sums.device_models.items()
    ]
    rows += [
        row(TrailingGrain.CELL, totals, **dict(zip(CELL_FIELDS, cell, strict=True)))
        for cell, totals in sums.cells.items()
    ]
    rows += [
        row(TrailingGrain.PAIR, totals, model_version_id=mv, device_model_id=dm)
        for (mv, dm), totals in sums.pairs.items()
    ]
    if previous is not None:
        bounds, totals = previous
        rows.append(row(TrailingGrain.PREVIOUS, totals, bounds=bounds))
    for built in rows:
        # An expression keeps Django's PostgreSQL bulk insert off UNNEST arrays, whose text quoting of every JSON
        # histogram (psycopg, a regex per document) was 1.3 s of a 1.9 s rebuild at 1,000 rows; VALUES rows are not.
        built.computed_at = Value(computed_at, output_field=DateTimeField())
    model.objects.filter(window=window).delete()
    model.objects.bulk_create(rows, batch_size=500)
