"""Delegate-fallback drift: the lab placed a cell's ops on the accelerator, the field falls back (docs/lab-field.md).

For each cell whose latest successful lab run reports op placement, the field's inference-weighted accelerated
fraction over the last DRIFT_DAYS days is compared with the lab's, for the whole cell and per OS version, app version
(DailyRollup) and firmware (DailyFallbackRollup, telemetry/models/fallback.py). A part drifts when it is more than
LAB_FIELD_DRIFT_POINTS points below the lab over at least LAB_FIELD_DRIFT_MIN_SESSIONS sessions; the ops named are
the field's fallback ops that the lab ran on the accelerator. Every read is one aggregate query over rollup rows for
all cells (devices affected from DailyFallbackDevice): no raw session is read, so a page costs what the cells' days,
firmware builds and ops cost, not their sessions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from benchmarks.models import BenchmarkOp, BenchmarkRun, RunStatus
from compat.models import CompatEntry
from telemetry.kpi.scope import filter_q
from telemetry.models import DailyFallbackDevice, DailyFallbackRollup, DailyRollup
from telemetry.models.fallback import ALL_SESSIONS

from .field import CELL, Cell, cell_q, days_window
from .lab import LABEL_FIELDS, CellLabels

DRIFT_DAYS = 7  # the judged window; "since" looks back SINCE_DAYS
SINCE_DAYS = 30
ORDERS = {
    # "by devices affected": drifting cells first, the most devices affected, then the largest drop
    "devices": lambda d: (not d.drifting, -d.devices_affected, -(d.worst_points or 0), d.cell),
    "points": lambda d: (-(d.worst_points or 0), -d.devices_affected, d.cell),
}


def _pct(fraction: float | None) -> float | None:
    """A fraction as the percentage pages show: the API's 4-digit fraction × 100 (the same number)."""
    return None if fraction is None else round(round(fraction, 4) * 100, 2)


@dataclass(frozen=True)
class LabPlacement:
    """The latest successful lab run of a cell that reports where its ops ran."""

    run_id: int
    ran_at: datetime
    accelerated_fraction: float
    delegated_ops: tuple[str, ...]  # op types with an instance on the accelerator, sorted

    @property
    def accelerated_pct(self) -> float | None:
        return _pct(self.accelerated_fraction)


@dataclass(frozen=True)
class Part:
    """The field accelerated fraction of part of a cell (all of it, one OS / app / firmware version) vs the lab."""

    key: str
    sessions: int
    accelerated_fraction: float | None  # Σ fraction × inferences ÷ Σ inferences, sessions reporting it
    points: float | None  # (lab − field) × 100
    drifting: bool
    since: date | None = None  # first day of the current run of days below the lab by more than the setting

    @property
    def accelerated_pct(self) -> float | None:
        return _pct(self.accelerated_fraction)


@dataclass(frozen=True)
class FallbackOp:
    """An op the lab ran on the accelerator that the field reports as a fallback."""

    name: str
    sessions: int  # field sessions (judged days) that report it among their fallback ops
    share: float  # ÷ the cell's field sessions in the same window

    @property
    def share_pct(self) -> float | None:
        return _pct(self.share)


@dataclass
class CellDrift:
    """One cell's drift: the lab's placement, the field's parts, the ops that fell back, the devices affected."""

    cell: Cell
    labels: CellLabels
    lab: LabPlacement
    field: Part  # the whole cell
    entry_id: int | None = None
    os_versions: list[Part] = field(default_factory=list)
    app_versions: list[Part] = field(default_factory=list)
    firmware: list[Part] = field(default_factory=list)
    ops: list[FallbackOp] = field(default_factory=list)  # lab-delegated ops that fell back, most sessions first
    raw_sessions: int = 0  # sessions of the judged days in the fallback rollups (the ops' denominator)
    devices_affected: int = 0  # distinct devices with a session that fell back on one of `ops`

    @property
    def drifting_parts(self) -> list[str]:
        parts = ["all sessions"] if self.field.drifting else []
        for label, rows in (("OS", self.os_versions), ("app", self.app_versions), ("firmware", self.firmware)):
            parts += [f"{label} {row.key or 'unknown'}" for row in rows if row.drifting]
        return parts

    @property
    def drifting(self) -> bool:
        return bool(self.drifting_parts)

    @property
    def field_rows(self) -> list[Part]:
        return [self.field]

    def _drifting(self, *groups) -> list[Part]:
        return [row for rows in groups for row in rows if row.drifting]

    @property
    def worst(self) -> Part | None:
        """The drifting part furthest below the lab (the alert's value)."""
        parts = self._drifting([self.field], self.os_versions, self.app_versions, self.firmware)
        return max(parts, key=lambda part: (part.points, part.sessions), default=None)

    @property
    def worst_points(self) -> float | None:
        return self.worst.points if self.worst else self.field.points

    @property
    def since(self) -> date | None:
        days = [part.since for part in self._drifting([self.field], self.os_versions, self.app_versions)]
        return min((day for day in days if day), default=None)

    def versions(self, rows: list[Part]) -> list[str]:
        return [row.key for row in rows if row.drifting]


@dataclass(frozen=True)
class Rule:
    points: float
    min_sessions: int

    @classmethod
    def from_settings(cls, *, points: float | None = None, min_sessions: int | None = None) -> Rule:
        return cls(
            points=settings.LAB_FIELD_DRIFT_POINTS if points is None else points,
            min_sessions=settings.LAB_FIELD_DRIFT_MIN_SESSIONS if min_sessions is None else min_sessions,
        )


def lab_placements(*, q: Q, now: datetime | None = None) -> tuple[dict[Cell, LabPlacement], dict[Cell, CellLabels]]:
    """Per cell, its latest done run of the last LAB_FIELD_LAB_DAYS that reports op placement: a per-op profile and
    an accelerated fraction (an importer leaves the fraction out when the ops' delegates are unknown); 2 queries."""
    since = (now or timezone.now()) - timedelta(days=settings.LAB_FIELD_LAB_DAYS)
    latest_first = Window(
        RowNumber(), partition_by=[F(column) for column in CELL], order_by=[F("ran_at").desc(), F("id").desc()]
    )
    rows = list(
        BenchmarkRun.objects.filter(
            q,
            Exists(BenchmarkOp.objects.filter(run=OuterRef("pk"))),
            status=RunStatus.DONE,
            ran_at__gte=since,
            accelerated_fraction__isnull=False,
        )  # fmt: skip
        .annotate(recency=latest_first)
        .filter(recency=1)
        .order_by()
        .values_list(*CELL, "id", "ran_at", "accelerated_fraction", *LABEL_FIELDS)
    )
    if not rows:
        return {}, {}
    delegated: dict[int, set[str]] = defaultdict(set)
    accelerated_ops = BenchmarkOp.objects.filter(run_id__in=[row[4] for row in rows], accelerated=True)
    for run_id, op_type in accelerated_ops.order_by().values_list("run_id", "op_type").distinct():
        delegated[run_id].add(op_type)
    placements, labels = {}, {}
    for row in rows:
        cell, (run_id, ran_at, fraction) = tuple(row[:4]), row[4:7]
        placements[cell] = LabPlacement(run_id, ran_at, fraction, tuple(sorted(delegated[run_id])))
        labels[cell] = CellLabels(*row[7:])
    return placements, labels


def _part(key, sessions, weighted, weight, lab_fraction, rule, since=None) -> Part:
    fraction = weighted / weight if weight else None
    points = None if fraction is None or lab_fraction is None else (lab_fraction - fraction) * 100
    drifting = points is not None and points > rule.points and sessions >= rule.min_sessions
    return Part(key, sessions, fraction, points, drifting, since if drifting else None)


def _since(days: dict[date, list[float]], lab_fraction: float | None, rule: Rule) -> date | None:
    """The first day of the latest run of days (with accelerated samples) each below the lab by > rule.points."""
    first = None
    for day in sorted((d for d, (_, weight) in days.items() if weight), reverse=True):
        weighted, weight = days[day]
        if lab_fraction is None or (lab_fraction - weighted / weight) * 100 <= rule.points:
            break
        first = day
    return first


def _below(series: dict[date, list[float]], since: date, lab_fraction: float | None, rule: Rule) -> bool:
    """Some day from `since` on is below the lab by more than rule.points (whatever its sessions)."""
    return lab_fraction is not None and any(
        weight and (lab_fraction - weighted / weight) * 100 > rule.points
        for day, (weighted, weight) in series.items()
        if day >= since
    )


def _rollup_parts(cells, lab, rule, q, now) -> tuple[dict[Cell, dict[str, dict]], set[Cell]]:
    """Per cell: the whole 7 days and per OS / app version with their since-days (one DailyRollup query); and the
    candidates: cells with a part below the lab by more than the points over the 7 days or on one of them."""
    start, end = days_window(SINCE_DAYS, now=now)
    judged = days_window(DRIFT_DAYS, now=now)[0]
    rows = (
        DailyRollup.objects.filter(q, cell_q(cells), bucket_start__gte=start, bucket_start__lt=end)
        .order_by()
        .values_list(*CELL, "os_version", "app_version", "bucket_start")
        .annotate(n=Sum("sessions"), ws=Sum("accelerated_weighted_sum"), w=Sum("accelerated_weight"))
    )
    # cell -> group ("cell" | "os" | "app") -> key -> [sessions, weighted, weight, {day: [weighted, weight]}]
    sums: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0, defaultdict(lambda: [0, 0])])))
    for *cell_ids, os_version, app_version, day, sessions, weighted, weight in rows:
        cell = tuple(cell_ids)
        if cell not in lab:
            continue  # cell_q is a superset of the cells
        for group, key in (("cell", ""), ("os", os_version), ("app", app_version)):
            acc = sums[cell][group][key]
            series = acc[3][day.date()]
            series[0] += weighted
            series[1] += weight
            if day >= judged:
                acc[0] += sessions
                acc[1] += weighted
                acc[2] += weight
    parts: dict[Cell, dict[str, dict]] = {}
    candidates: set[Cell] = set()
    for cell, groups in sums.items():
        lab_fraction = lab[cell].accelerated_fraction
        parts[cell] = {
            group: {
                key: _part(key, n, ws, w, lab_fraction, rule, _since(series, lab_fraction, rule))
                for key, (n, ws, w, series) in keys.items()
                if n
            }
            for group, keys in groups.items()
        }
        if any(
            _below(series, judged.date(), lab_fraction, rule)
            for keys in groups.values()
            for *_, series in keys.values()
        ):
            candidates.add(cell)
    return parts, candidates


def _fallback_parts(q: Q, cells, lab, rule, now) -> tuple[dict[Cell, int], dict[Cell, dict[str, int]], dict]:
    """One DailyFallbackRollup query over the judged days: per cell its sessions, per lab-delegated op the sessions
    that fell back on it (ops are stored upper-cased), and the firmware parts."""
    start, end = days_window(DRIFT_DAYS, now=now)
    rows = (
        DailyFallbackRollup.objects.filter(q, cell_q(cells), bucket_start__gte=start, bucket_start__lt=end)
        .order_by()
        .values_list(*CELL, "firmware", "op")
        .annotate(n=Sum("sessions"), ws=Sum("accelerated_weighted_sum"), w=Sum("accelerated_weight"))
    )
    totals: dict[Cell, int] = defaultdict(int)
    ops: dict[Cell, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    firmware: dict[Cell, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0, 0]))
    for *cell_ids, firmware_version, op, n, weighted, weight in rows:
        cell = tuple(cell_ids)
        if cell not in lab:
            continue  # cell_q is a superset of the cells
        if op == ALL_SESSIONS:
            totals[cell] += n
            acc = firmware[cell][firmware_version]
            acc[0], acc[1], acc[2] = acc[0] + n, acc[1] + weighted, acc[2] + weight
            continue
        delegated = {name.upper(): name for name in lab[cell].delegated_ops}
        if op in delegated:
            ops[cell][delegated[op]] += n
    parts = {
        cell: [_part(key, n, ws, w, lab[cell].accelerated_fraction, rule) for key, (n, ws, w) in by_firmware.items()]
        for cell, by_firmware in firmware.items()
    }
    return totals, ops, parts


def _devices_affected(q: Q, drifts: list[CellDrift], now) -> dict[Cell, int]:
    """Distinct devices with a judged day falling back on one of the cell's drift ops (DailyFallbackDevice)."""
    match = Q()
    for drift in drifts:
        match |= Q(**dict(zip(CELL, drift.cell, strict=True)), op__in=[op.name.upper() for op in drift.ops])
    if not match:
        return {}
    start, end = days_window(DRIFT_DAYS, now=now)
    rows = (
        DailyFallbackDevice.objects.filter(q, match, day__gte=start.date(), day__lt=end.date())
        .order_by()
        .values_list(*CELL)
        .annotate(n=Count("device_id", distinct=True))
    )
    return {tuple(row[:4]): row[4] for row in rows}


def _sorted(rows) -> list[Part]:
    return sorted(rows, key=lambda part: (-part.sessions, part.key))


def drift_list(
    *, filters: Mapping[str, object] | None = None, drifting: bool | None = None, order: str = "devices",
    rule: Rule | None = None, now: datetime | None = None,
) -> list[CellDrift]:  # fmt: skip
    """Every cell with a lab run reporting op placement and field sessions in the last DRIFT_DAYS days, ranked
    (ORDERS); ≤ 6 queries whatever the number of cells (lab runs, their ops, daily rollups, for the candidate cells
    the fallback rollups by firmware and op and the devices affected, compat entries)."""
    rule = rule or Rule.from_settings()
    q = filter_q(filters or {})
    lab, labels = lab_placements(q=q, now=now)
    if not lab:
        return []
    parts, candidates = _rollup_parts(lab, lab, rule, q, now)
    cells = [cell for cell in lab if parts.get(cell, {}).get("cell")]
    if not cells:
        return []
    # Fallback rows only for cells the rollups show below the lab (a healthy fleet reads none): ops, firmware, devices.
    below = [cell for cell in cells if cell in candidates]
    raw_totals, ops, firmware = _fallback_parts(q, below, lab, rule, now) if below else ({}, {}, {})
    drifts = []
    for cell in cells:
        total = raw_totals.get(cell, 0)
        drift = CellDrift(
            cell=cell, labels=labels[cell], lab=lab[cell], field=parts[cell]["cell"][""],
            os_versions=_sorted(parts[cell]["os"].values()), app_versions=_sorted(parts[cell]["app"].values()),
            firmware=_sorted(firmware.get(cell, [])), raw_sessions=total,
            ops=sorted(
                (FallbackOp(name, n, n / total) for name, n in ops.get(cell, {}).items()),
                key=lambda op: (-op.sessions, op.name),
            ),
        )  # fmt: skip
        drifts.append(drift)
    affected = _devices_affected(q, [drift for drift in drifts if drift.drifting and drift.ops], now)  # ≤ 1 query
    entries = dict(
        ((row[0], row[1], row[2], row[3]), row[4])
        for row in CompatEntry.objects.filter(cell_q(cells)).values_list(*CELL, "id")
    )
    for drift in drifts:
        drift.devices_affected = affected.get(drift.cell, 0) if drift.drifting else 0
        drift.entry_id = entries.get(drift.cell)
    if drifting is not None:
        drifts = [drift for drift in drifts if drift.drifting == drifting]
    return sorted(drifts, key=ORDERS[order])


def cell_drift_get(*, entry: CompatEntry, now: datetime | None = None) -> CellDrift | None:
    """One compat cell's drift (≤ 6 queries), None without a lab run reporting op placement or field sessions."""
    cell_filters = {
        "model_version_id": entry.model_version_id, "runtime_version_id": entry.runtime_version_id,
        "delegate_id": entry.delegate_id, "device_model_id": entry.device_model_id,
    }  # fmt: skip
    drifts = drift_list(filters=cell_filters, now=now)
    return drifts[0] if drifts else None
