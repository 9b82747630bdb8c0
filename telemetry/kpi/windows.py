"""Which preset window a read is, and the window's rows: an unfiltered preset range (24 h, 7 d, 30 d) is served
from the TrailingRollup rows the rollup run summed ahead (rollups/trailing.py), read once per request (kpi.memo).

Also where a range is cut for reading (range_pieces): the rollup run sums a window exactly as a page would read
that range, and a page recognizes a window by what its range reads (read_span).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, F, Q, When
from django.utils import timezone

from ..models import TrailingGrain, TrailingRollup
from .buckets import DAY, day_floor, range_snap, range_split
from .kpis import QUANTILE_COLUMNS
from .memo import request_memo
from .scope import RANGES, time_range_parse
from .totals import SCALAR_SUM_COLUMNS, Totals


def range_pieces(start: datetime, end: datetime) -> tuple[list[tuple[datetime, datetime]], tuple[datetime, datetime]]:
    """range_split, except that a trailing partial day reaching the present is read as its whole day.

    Nothing can have started after now (ingest clamps future device times to the receive time), so today's daily
    rows and activity hold exactly [today, end): the 7- and 30-day views read no hourly rows and no raw sessions.
    """
    last_day = day_floor(end)
    if last_day == end or start > last_day or end < timezone.now():
        return range_split(start, end)
    if start == last_day:
        return [], (last_day, last_day + DAY)
    edges, (day_start, day_end) = range_split(start, last_day)
    return edges, (day_start if day_start < day_end else last_day, last_day + DAY)


CELL_FIELDS = ("device_model_id", "model_version_id", "runtime_version_id", "delegate_id")


def trailing_ranges(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    """Each preset window's snapped range at ``now``: the one definition pages use (scope.time_range_parse)."""
    return {window: current for window, (current, _previous) in trailing_range_pairs(now).items()}


def trailing_range_pairs(now: datetime) -> dict[str, tuple[tuple[datetime, datetime], tuple[datetime, datetime]]]:
    """Each preset window's snapped range and the snapped range of its previous period (TimeRange.previous, what a
    page's trends read) at ``now``."""
    ranges = {}
    for window in RANGES:
        time_range = time_range_parse(params={"range": window}, now=now)
        previous = time_range.previous
        ranges[window] = (range_snap(time_range.start, time_range.end), range_snap(previous.start, previous.end))
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
    span = read_span(*range_snap(start, end))
    for window, (window_start, window_end) in trailing_ranges(timezone.now()).items():
        if read_span(window_start, window_end) == span:
            return window, span
    return None


# When the run summed the window (the fleet row's) and the previous period's range (its row's): NULL on the other
# rows, so ~500 identical timestamps are not parsed (a tenth of the read).
BUILT_AT = Case(When(grain=TrailingGrain.FLEET, then=F("computed_at")))
PREVIOUS_START = Case(When(grain=TrailingGrain.PREVIOUS, then=F("bucket_start")))
PREVIOUS_END = Case(When(grain=TrailingGrain.PREVIOUS, then=F("range_end")))
ROW_COLUMNS = (
    "grain", *CELL_FIELDS, *SCALAR_SUM_COLUMNS, *QUANTILE_COLUMNS, "lacking_devices", "runtime_version__runtime_id",
    "device_model__slug", "built_at", "previous_start", "previous_end",
)  # fmt: skip
AT = {name: i for i, name in enumerate(ROW_COLUMNS)}
SCALARS = slice(AT[SCALAR_SUM_COLUMNS[0]], AT[SCALAR_SUM_COLUMNS[-1]] + 1)
QUANTILES = slice(AT[QUANTILE_COLUMNS[0]], AT[QUANTILE_COLUMNS[-1]] + 1)
CELL = slice(AT[CELL_FIELDS[0]], AT[CELL_FIELDS[-1]] + 1)


def _totals(row: tuple) -> Totals:
    """A row's Totals without its histograms: the scalar sums (devices exact) and the stored KPI quantiles."""
    return Totals(**dict(zip(SCALAR_SUM_COLUMNS, row[SCALARS], strict=True)), quantiles=row[QUANTILES])


@dataclass(frozen=True)
class TrailingRows:
    """Everything the rollup run summed for one window, read in one query (histograms left out: each row's Totals
    carries its stored quantiles, so it gives its Kpis but cannot be merged)."""

    fleet: Totals
    device_models: dict[str, Totals]  # by device model slug
    cells: dict[tuple, Totals]  # by CELL_FIELDS ids
    pair_devices: dict[tuple[int, int], int]  # (model version id, device model id) → exact distinct devices
    runtime_of: dict[int, int]  # the cells' runtime versions → their runtime
    lacking_devices: int  # active devices with a session lacking a KPI field (kpi.coverage)
    built_at: datetime  # when the rollup run summed the window: the figures are as fresh as that run
    span: tuple[datetime, datetime]  # what the rows sum (read_span)
    # The fleet over the previous period of the window's range when the run built it (devices not counted), by its
    # snapped range: a page's trend reads it while its own previous period is that range (within the run's hour).
    previous: tuple[tuple[datetime, datetime], Totals] | None = None


def trailing_rows_read(*, start: datetime, end: datetime, filters) -> TrailingRows | None:
    """The rows of the window that [start, end) (snapped) reads, unfiltered, or None (module docstring); ≤ 1 query,
    none when the request read them already (kpi.memo). The fleet row is the marker that the window is built."""
    found = trailing_window(start=start, end=end, filters=filters)
    if found is None:
        return None
    window, span = found
    memo = request_memo()
    key = ("trailing rows", window, span)
    if memo is not None and key in memo:
        return memo[key]
    previous_range = trailing_range_pairs(timezone.now())[window][1]
    rows = (
        TrailingRollup.objects.filter(
            Q(bucket_start=span[0], range_end=span[1])
            | Q(grain=TrailingGrain.PREVIOUS, bucket_start=previous_range[0], range_end=previous_range[1]),
            window=window,
        )
        .annotate(built_at=BUILT_AT, previous_start=PREVIOUS_START, previous_end=PREVIOUS_END)
        .values_list(*ROW_COLUMNS)
    )
    fleet, built_at, lacking, previous = None, None, 0, None
    device_models, cells, pairs, runtime_of = {}, {}, {}, {}
    for row in rows:
        grain = row[0]
        if grain == TrailingGrain.FLEET:
            fleet, built_at, lacking = _totals(row), row[AT["built_at"]], row[AT["lacking_devices"]]
        elif grain == TrailingGrain.DEVICE_MODEL:
            device_models[row[AT["device_model__slug"]]] = _totals(row)
        elif grain == TrailingGrain.CELL:
            cells[row[CELL]] = _totals(row)
            runtime_of[row[AT["runtime_version_id"]]] = row[AT["runtime_version__runtime_id"]]
        elif grain == TrailingGrain.PAIR:
            pairs[(row[AT["model_version_id"]], row[AT["device_model_id"]])] = row[AT["devices"]]
        elif grain == TrailingGrain.PREVIOUS:
            previous = ((row[AT["previous_start"]], row[AT["previous_end"]]), _totals(row))
    result = (
        None
        if fleet is None
        else TrailingRows(fleet, device_models, cells, pairs, runtime_of, lacking, built_at, span, previous)
    )
    if memo is not None:
        memo[key] = result
    return result


def trailing_previous_read(*, start: datetime, end: datetime, filters) -> Totals | None:
    """The fleet Totals (devices not counted) of the snapped [start, end) when it is the previous period of a built
    preset window's current range, unfiltered; else None. No query once the request read that window's rows."""
    if filters:
        return None
    wanted = range_snap(start, end)
    for (window_start, window_end), previous in trailing_range_pairs(timezone.now()).values():
        if previous != wanted:
            continue
        rows = trailing_rows_read(start=window_start, end=window_end, filters=None)
        if rows is not None and rows.previous is not None and rows.previous[0] == wanted:
            return rows.previous[1]
    return None
