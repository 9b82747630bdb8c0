"""Trailing-window reads: an unfiltered preset range (24 h, 7 d, 30 d) served from TrailingRollup rows.

The rollup run sums each window's rows ahead (rollups/trailing.py) from exactly the rows and functions a page would
otherwise read for that range (reads.grouped_totals, reads.grouped_devices), so a figure is the same either way.
A read is served only when the scope is unfiltered and reads what the window's current range reads (read_span)
with a built fleet row for it; anything else (a filter, a custom range, a day rolled over, for 24 h an hour) returns
None and the caller reads the finer rollups as before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q

from ..models import TrailingGrain, TrailingRollup
from .reads import merge_rows_fast
from .totals import SUM_COLUMNS, Totals
from .windows import CELL_FIELDS, read_span, trailing_ranges, trailing_rows_read, trailing_window

__all__ = ["CELL_FIELDS", "read_span", "trailing_ranges", "trailing_window"]  # where callers have found them


@dataclass(frozen=True)
class TrailingFleet:
    """The fleet's and each device model's Totals over one window (devices exact)."""

    fleet: Totals
    device_models: dict[str, Totals]  # by device model slug
    built_at: datetime  # when the rollup run summed the window: the figures are as fresh as that run


def trailing_fleet_read(*, start: datetime, end: datetime, filters) -> TrailingFleet | None:
    """The fleet and per-device-model Totals of the window [start, end) reads, or None; ≤ 1 query per request."""
    rows = trailing_rows_read(start=start, end=end, filters=filters)
    return None if rows is None else TrailingFleet(rows.fleet, rows.device_models, rows.built_at)


def trailing_cells_read(*, start: datetime, end: datetime, filters) -> dict[tuple, Totals] | None:
    """Per compat cell (CELL_FIELDS ids) Totals of the window [start, end) reads, devices exact; or None.

    An empty window still has its fleet row (the marker that it was built), so None means "not built for this range".
    """
    rows = trailing_rows_read(start=start, end=end, filters=filters)
    return None if rows is None else rows.cells


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
