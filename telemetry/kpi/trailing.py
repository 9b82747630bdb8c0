"""Trailing-window reads: an unfiltered preset range (24 h, 7 d, 30 d) served from TrailingRollup rows.

The rollup run sums each window's rows ahead (rollups/trailing.py) from exactly the rows and functions a page would
otherwise read for that range (reads.grouped_totals, reads.grouped_devices), so a figure is the same either way.
A read is served only when the scope is unfiltered and reads what the window's current range reads (read_span)
with a built fleet row for it; anything else (a filter, a custom range, a day rolled over, for 24 h an hour) returns
None and the caller reads the finer rollups as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ..models import TrailingGrain, TrailingRollup
from .buckets import range_snap
from .reads import merge_rows_fast, range_pieces
from .scope import RANGES, time_range_parse
from .totals import SUM_COLUMNS, Totals

CELL_FIELDS = ("device_model_id", "model_version_id", "runtime_version_id", "delegate_id")


def trailing_ranges(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Each preset window's snapped range at ``now``: the one definition pages use (scope.time_range_parse)."""
    ranges = {}
    for window in RANGES:
        time_range = time_range_parse(params={"range": window}, now=now)
        ranges[window] = range_snap(time_range.start, time_range.end)
    return ranges


def read_span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """What a read of the snapped [start, end) sums: its whole UTC days when it has no hourly edge (the 7- and 30-day
    windows, whose last day reaches now: any end within today reads the same rows), else the range itself.

    A window's rows are stored under their span, so they serve every hour of the day they were built for, not only
    the hour of the run (the demo has no beat to rebuild them each hour).
    """
    edges, days = range_pieces(start, end)
    return days if not edges else (start, end)


def trailing_window(
    *, start: datetime, end: datetime, filters: Mapping[str, object] | None
) -> tuple[str, tuple[datetime, datetime]] | None:
    """(window, span) of the preset window whose current range reads what [start, end) (snapped) reads, unfiltered."""
    if filters:
        return None
    span = read_span(start, end)
    for window, (window_start, window_end) in trailing_ranges(timezone.now()).items():
        if read_span(window_start, window_end) == span:
            return window, span
    return None


def _totals(row: dict) -> Totals:
    totals = Totals()
    totals.add_scalars(row)  # devices included: exact for the row's range
    totals.add_histogram(row["latency_histogram"])
    totals.add_histogram(row["peak_rss_histogram"], rss=True)
    return totals


@dataclass(frozen=True)
class TrailingFleet:
    """The fleet's and each device model's Totals over one window (devices exact), read in one query."""

    fleet: Totals
    device_models: dict[str, Totals]  # by device model slug
    built_at: datetime  # when the rollup run summed the window: the figures are as fresh as that run


def trailing_fleet_read(*, memo: dict | None, start: datetime, end: datetime, filters) -> TrailingFleet | None:
    """The fleet and per-device-model rows of the window [start, end) reads, or None (module docstring); ≤ 1 query."""
    found = trailing_window(start=start, end=end, filters=filters)
    if found is None:
        return None
    window, (span_start, span_end) = found
    key = ("trailing fleet", window, span_start, span_end)
    if memo is not None and key in memo:
        return memo[key]
    grains = (TrailingGrain.FLEET, TrailingGrain.DEVICE_MODEL)
    rows = TrailingRollup.objects.filter(
        window=window, bucket_start=span_start, range_end=span_end, grain__in=grains
    ).values("grain", "device_model__slug", "computed_at", *SUM_COLUMNS)
    fleet, device_models, built_at = None, {}, None
    for row in rows:
        if row["grain"] == TrailingGrain.FLEET:
            fleet, built_at = _totals(row), row["computed_at"]
        else:
            device_models[row["device_model__slug"]] = _totals(row)
    result = None if fleet is None else TrailingFleet(fleet, device_models, built_at)
    if memo is not None:
        memo[key] = result
    return result


def trailing_cells_read(*, start: datetime, end: datetime, filters) -> dict[tuple, Totals] | None:
    """Per compat cell (CELL_FIELDS ids) Totals of the window [start, end) reads, devices exact; or None; 1 query.

    An empty window still has its fleet row (the marker that it was built), so None means "not built for this range".
    """
    found = trailing_window(start=start, end=end, filters=filters)
    if found is None:
        return None
    window, (span_start, span_end) = found
    rows = TrailingRollup.objects.filter(
        window=window, bucket_start=span_start, range_end=span_end, grain__in=(TrailingGrain.FLEET, TrailingGrain.CELL)
    ).values("grain", *CELL_FIELDS, *SUM_COLUMNS)
    built, cells = False, {}
    for row in rows:
        if row["grain"] == TrailingGrain.FLEET:
            built = True
        else:
            cells[tuple(row[name] for name in CELL_FIELDS)] = _totals(row)
    return cells if built else None


def trailing_cells_totals(
    *, start: datetime, end: datetime, q: Q, fields: tuple[str, ...], key: Callable[[dict], object]
) -> dict[object, Totals] | None:
    """Totals per compat cell (``fields``: CELL_FIELDS in the caller's order, ``key`` its cell key) of the cells
    ``q`` selects, from the preset window whose span is what [start, end) reads; None when no built window reads
    that. One query: the window's cell rows (one per cell, instead of one per cell and day), devices exact.
    """
    found = trailing_window(start=start, end=end, filters=None)
    if found is None:
        return None
    window, (span_start, span_end) = found
    # The fleet row (every cell column NULL: q never selects it) comes along as the marker that the window is built.
    rows = TrailingRollup.objects.filter(
        Q(grain=TrailingGrain.FLEET) | (Q(grain=TrailingGrain.CELL) & q),
        window=window, bucket_start=span_start, range_end=span_end,
    )  # fmt: skip
    groups: dict[object, Totals] = defaultdict(Totals)
    if connection.vendor == "postgresql":
        merge_rows_fast(rows, fields=fields, key=key, groups=groups)
    else:
        for row in rows.values(*fields, *SUM_COLUMNS):
            groups[key(row)].add_row(row)
    marker = key(dict.fromkeys(fields))
    if marker not in groups:
        return None
    del groups[marker]
    return dict(groups)
