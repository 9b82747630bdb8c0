"""Every read of field telemetry for the lab-vs-field figures, in one module (docs/lab-field.md).

Windows are whole UTC days, today (so far) included, so every read is of daily rollups and per-day device activity:
no hourly rows and no raw sessions (the thermal split reads the thermal rollups, telemetry/models/thermal.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from django.conf import settings
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Cast, Coalesce, Concat
from django.db.models.lookups import In
from django.utils import timezone

from telemetry.kpi.buckets import DAY, day_floor
from telemetry.kpi.reads import grouped_devices, grouped_totals
from telemetry.kpi.totals import Totals
from telemetry.kpi.trailing import trailing_cells_totals
from telemetry.models import (
    DailyCoarseRollup,
    DailyRollup,
    DailyThermalDevice,
    DailyThermalRollup,
    DeviceActivityDay,
    HourlyRollup,
    ThermalDeviceLastDay,
)

# A compat cell, as the rollups, the activity rows, the raw sessions and the lab runs all name its columns.
CELL = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
Cell = tuple[int, int, int, int]
IMPACT_DAYS = 7
EXACT_CELLS_MAX = 20_000


class Thermal:
    """How a session's thermal state is grouped (LAB_FIELD_THROTTLED_STATES says which states throttle)."""

    NOT_THROTTLED = "not_throttled"
    THROTTLED = "throttled"
    UNREPORTED = "unreported"
    ORDER = (NOT_THROTTLED, THROTTLED, UNREPORTED)
    LABELS = {NOT_THROTTLED: "not throttled", THROTTLED: "throttled", UNREPORTED: "not reported"}


def days_window(days: int, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` UTC days, today included: [today − (days − 1) days, tomorrow)."""
    today = day_floor(now or timezone.now())
    return today - (days - 1) * DAY, today + DAY


def cell_q(cells: Iterable[Cell]) -> Q:
    """Rows of these cells: one IN per column (a superset when cells differ in two columns) — callers key by cell."""
    cells = list(cells)
    if not cells:
        return Q(pk__in=[])
    return Q(**{f"{column}__in": sorted({cell[i] for cell in cells}) for i, column in enumerate(CELL)})


def cells_exact_q(cells: Iterable[Cell]) -> Q:
    """Rows of exactly these cells: cell_q's IN per column (which the indexes serve), then each row's cell as one text
    key IN the cells' keys (PostgreSQL hashes a long IN list; SQLite probes a temporary index). For a matrix's shown
    cells cell_q alone read every path of each (model version, device model) pair, ~4× the rows in the bench; an OR
    of one term per cell group was 4× slower in SQL (perf/compat_matrix_bench.py --overlay)."""
    cells = set(cells)
    if not cells:
        return Q(pk__in=[])
    if len(cells) > EXACT_CELLS_MAX:  # past SQLite's 32,766 parameters: the superset (callers key rows by cell)
        return cell_q(cells)
    parts = [part for column in CELL for part in (Cast(column, CharField()), Value("-"))][:-1]
    keys = sorted("-".join(map(str, cell)) for cell in cells)
    return cell_q(cells) & Q(In(Concat(*parts, output_field=CharField()), keys))


def _key(row: dict) -> Cell:
    return tuple(row[column] for column in CELL)


def cells_totals(*, days: int, q: Q, now: datetime | None = None, devices: bool = True) -> dict[Cell, Totals]:
    """Field Totals per cell over the last ``days`` days, devices exact (DailyCoarseRollup + DeviceActivityDay;
    ``devices=False`` skips the device count, which latency figures do not need, and leaves it 0)."""
    start, end = days_window(days, now=now)
    if not devices:
        # The 7-day window's cell rows when the rollup run built them for this range: a seventh of the daily rows.
        kept = trailing_cells_totals(start=start, end=end, q=q, fields=CELL, key=_key)
        if kept is not None:
            return kept
    totals = grouped_totals(start=start, end=end, q=q, fields=CELL, key=_key, daily=DailyCoarseRollup)
    if not devices:
        return dict(totals)
    devices = grouped_devices(start=start, end=end, q=q, fields=CELL, key=_key)
    for cell, cell_totals in totals.items():
        cell_totals.devices = devices.get(cell, 0)
    return dict(totals)


def os_split(*, cell: Cell, days: int, now: datetime | None = None) -> dict[str, Totals]:
    """One cell's field Totals per OS version over the last ``days`` days (DailyRollup keeps the OS version)."""
    start, end = days_window(days, now=now)
    q = Q(**dict(zip(CELL, cell, strict=True)))
    fields = ("os_version",)
    totals = grouped_totals(
        start=start, end=end, q=q, fields=fields, key=lambda row: row["os_version"], daily=DailyRollup,
        hourly=HourlyRollup,
    )  # fmt: skip
    devices = grouped_devices(start=start, end=end, q=q, fields=fields, key=lambda row: row["os_version"])
    for os_version, os_totals in totals.items():
        os_totals.devices = devices.get(os_version, 0)
    return dict(totals)


def thermal_group():
    """The thermal group (Thermal) of a thermal rollup row's lower-cased state, as a SQL expression."""
    return Case(
        When(thermal_state__in=settings.LAB_FIELD_THROTTLED_STATES, then=Value(Thermal.THROTTLED)),
        When(thermal_state="", then=Value(Thermal.UNREPORTED)),
        default=Value(Thermal.NOT_THROTTLED),
        output_field=CharField(),
    )


def thermal_group_of(state: str) -> str:
    """thermal_group() of one lower-cased state, in Python."""
    if state in settings.LAB_FIELD_THROTTLED_STATES:
        return Thermal.THROTTLED
    return Thermal.UNREPORTED if state == "" else Thermal.NOT_THROTTLED


@dataclass
class ThermalTotals:
    """The thermal rollups' sums of a group of sessions: Totals (sessions, inferences, latency histogram; devices from
    the device rows) and the energy sums of those reporting energy (labfield/thermal.py's EnergyFigure)."""

    totals: Totals = field(default_factory=Totals)
    energy_weighted_sum: float = 0.0
    energy_inferences: int = 0
    energy_sessions: int = 0


_COUNTS_DECODE = msgspec.json.Decoder(dict[str, int]).decode


def thermal_sums(
    *, q: Q, days: int, fields: tuple[str, ...], key: Callable[[tuple, str], object], now: datetime | None = None
) -> dict[object, ThermalTotals]:
    """ThermalTotals per ``key(values of fields, lower-cased state)`` over the last ``days`` UTC days: one query of
    DailyThermalRollup (the window is whole days: no hourly rows), histograms merged in Python from their JSON text
    (as kpi.reads.merge_rows_fast; a row per day × cell × state)."""
    start, end = days_window(days, now=now)
    rows = (
        DailyThermalRollup.objects.filter(q, bucket_start__gte=start, bucket_start__lt=end)
        .order_by()
        .values_list(
            *fields, "thermal_state", "sessions", "inferences", "energy_weighted_sum", "energy_inferences",
            "energy_sessions", Cast(KeyTransform("counts", "latency_histogram"), output_field=TextField()),
            KeyTransform("zero_count", "latency_histogram"),
        )
    )  # fmt: skip
    width = len(fields)
    groups: dict[object, ThermalTotals] = defaultdict(ThermalTotals)
    for row in rows.iterator(chunk_size=2000):
        state, sessions, inferences, energy_sum, energy_inferences, energy_sessions, counts, zero = row[width:]
        group = groups[key(row[:width], state)]
        group.totals.sessions += sessions
        group.totals.inferences += inferences
        for bucket, count in (_COUNTS_DECODE(counts) if counts else {}).items():
            group.totals.latency_counts[bucket] += count
        group.totals.latency_zero += int(zero or 0)
        group.energy_weighted_sum += energy_sum
        group.energy_inferences += energy_inferences
        group.energy_sessions += energy_sessions
    return dict(groups)


def thermal_devices(*, q: Q, days: int, group: dict[str, object], now: datetime | None = None) -> dict[tuple, int]:
    """Exact distinct devices per group over the last ``days`` UTC days, one query; ``group``: aliases (not field
    names) of the expressions grouped by, keys in that order.

    A window that ends today reads ThermalDeviceLastDay (a device counts when its last day in the state is in the
    window: one row per device and state, not per day); one ending earlier reads DailyThermalDevice's days.
    """
    start, end = days_window(days, now=now)
    if end == days_window(1)[1]:
        rows = ThermalDeviceLastDay.objects.filter(q, last_day__gte=start.date())
    else:
        rows = DailyThermalDevice.objects.filter(q, day__gte=start.date(), day__lt=end.date())
    # The distinct (group, device) pairs first, then a count per group: PostgreSQL hashes the pairs once, where
    # COUNT(DISTINCT) sorts each group's rows (half the time on a cell of 5,000 devices × 5 states × 7 days).
    pairs = rows.order_by().values(**group, thermal_device=F("device_id")).distinct()
    sql, params = pairs.query.sql_with_params()
    database = connections[pairs.db]  # on a dashboard request, the read replica
    columns = ", ".join(database.ops.quote_name(name) for name in group)
    with database.cursor() as cursor:
        cursor.execute(f"SELECT {columns}, COUNT(*) FROM ({sql}) pairs GROUP BY {columns}", params)  # noqa: S608
        return {tuple(row[:-1]): row[-1] for row in cursor.fetchall()}


def thermal_split(*, cell: Cell, days: int, now: datetime | None = None) -> dict[str, Totals]:
    """One cell's field Totals per thermal group over the last ``days`` UTC days, from the thermal rollups: two
    queries (the daily rows; distinct devices per group), whatever the number of sessions."""
    q = Q(**dict(zip(CELL, cell, strict=True)))
    sums = thermal_sums(q=q, days=days, fields=(), key=lambda _, state: thermal_group_of(state), now=now)
    if not sums:
        return {}
    devices = thermal_devices(q=q, days=days, group={"thermal": thermal_group()}, now=now)
    groups = {}
    for group in Thermal.ORDER:
        if group in sums:
            groups[group] = sums[group].totals
            groups[group].devices = devices.get((group,), 0)
    return groups


def fleet_devices(*, days: int, now: datetime | None = None) -> int:
    """Distinct devices active anywhere in the fleet over the last ``days`` days (one probe per device)."""
    start, end = days_window(days, now=now)
    return grouped_devices(start=start, end=end, q=Q(), fields=(), key=lambda row: (), by_device_model=True).get((), 0)


def regressions_impact_annotate(queryset: QuerySet, *, now: datetime | None = None) -> QuerySet:
    """Regressions annotated with their cell's field population over the last IMPACT_DAYS days.

    The cell is the change run's (model version × runtime version × delegate × device model): who runs what the
    regression was measured on. One correlated subquery per column, so ordering and paging stay in SQL; the fleet's
    device count is read once (one query) and carried as a constant.
    """
    start, end = days_window(IMPACT_DAYS, now=now)
    same_cell = {column: OuterRef(f"change_run__{column}") for column in CELL}
    devices = (
        DeviceActivityDay.objects.filter(day__gte=start.date(), day__lt=end.date(), **same_cell)
        .order_by()
        .values("device_model_id")  # one group: the cell's device model
        .annotate(n=Count("device_id", distinct=True))
        .values("n")
    )
    sessions = (
        DailyCoarseRollup.objects.filter(bucket_start__gte=start, bucket_start__lt=end, **same_cell)
        .order_by()
        .values("device_model_id")
        .annotate(n=Sum("sessions"))
        .values("n")
    )
    fleet = fleet_devices(days=IMPACT_DAYS, now=now)
    annotated = queryset.annotate(
        field_devices=Coalesce(Subquery(devices[:1]), 0),
        field_sessions=Coalesce(Subquery(sessions[:1]), 0),
        field_fleet_devices=Value(fleet),
    )
    share = Cast("field_devices", FloatField()) / fleet if fleet else Value(None, FloatField())
    return annotated.annotate(
        field_sessions_per_day=ExpressionWrapper(Cast("field_sessions", FloatField()) / IMPACT_DAYS, FloatField()),
        fleet_share=ExpressionWrapper(share, FloatField()),
        fleet_share_pct=ExpressionWrapper(share * 100, FloatField()),  # for pages (templates cannot multiply)
    )
