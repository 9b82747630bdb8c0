"""The lab-vs-field gap of compat cells: one selector for the ranked list, one for a cell (docs/lab-field.md).

Field latency is the p50/p95 of the cell's merged histograms (rollups, never an average of per-session figures);
the lab's is the median of its latest successful runs' p50/p95 (labfield.lab). The ratio is field ÷ lab; a figure is
flagged when its p95 ratio exceeds LAB_FIELD_GAP_RATIO over at least LAB_FIELD_MIN_SESSIONS sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from compat.models import CompatEntry
from telemetry.kpi.scope import filter_q
from telemetry.kpi.totals import Totals

from . import field as field_reads
from . import thermal as thermal_reads
from .field import CELL, Cell, Thermal
from .lab import CellLabels, LabFigure, lab_figures
from .thermal import EnergyFigure, ThermalRow

ENTRY_RELATED = ("model_version__ml_model", "runtime_version__runtime", "delegate", "device_model")
WINDOWS = (7, 30)  # days: the short window is the one flags and rankings use
# Cell filters of the list (page and API): the catalog columns a lab run has too (no OS or app version).
CELL_FILTERS = (
    "device_model", "device_model_id", "vendor", "tier", "model", "model_version", "model_version_id", "runtime",
    "runtime_version", "runtime_version_id", "delegate", "delegate_id",
)  # fmt: skip
ORDERS = {
    # "largest gaps, by devices affected": flagged cells first, the most devices first, then the largest ratio
    "devices": lambda gap: (not gap.flagged, -gap.field_7d.devices, -(gap.ratio_7d.p95 or 0), gap.cell),
    "ratio": lambda gap: (-(gap.ratio_7d.p95 or 0), -gap.field_7d.devices, gap.cell),
}


@dataclass(frozen=True)
class FieldFigure:
    """Field latency of a set of sessions: quantiles of their merged histogram."""

    sessions: int
    devices: int
    p50_ms: float | None
    p95_ms: float | None

    @classmethod
    def from_totals(cls, totals: Totals | None) -> FieldFigure:
        if totals is None:
            return cls(sessions=0, devices=0, p50_ms=None, p95_ms=None)
        p50, p95 = totals.histogram().quantiles((0.5, 0.95))
        return cls(sessions=totals.sessions, devices=totals.devices, p50_ms=p50, p95_ms=p95)


@dataclass(frozen=True)
class Ratio:
    """Field ÷ lab, per quantile (None when either side has no figure)."""

    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, field_figure: FieldFigure, lab: LabFigure | None) -> Ratio:
        def divide(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b else None

        if lab is None:
            return cls(p50=None, p95=None)
        return cls(p50=divide(field_figure.p50_ms, lab.p50_ms), p95=divide(field_figure.p95_ms, lab.p95_ms))


def is_flagged(field_figure: FieldFigure, ratio: Ratio) -> bool:
    return (
        ratio.p95 is not None
        and ratio.p95 > settings.LAB_FIELD_GAP_RATIO
        and field_figure.sessions >= settings.LAB_FIELD_MIN_SESSIONS
    )


@dataclass(frozen=True)
class SplitRow:
    """One part of a cell's sessions (a thermal group, an OS version) against the cell's lab figure."""

    key: str
    label: str
    field: FieldFigure
    ratio: Ratio
    flagged: bool


@dataclass(frozen=True)
class ThermalStateRow:
    """One reported thermal state of a cell's sessions (7 days, thermal rollups), with its p95 against the cell's lab figure."""

    row: ThermalRow
    ratio: Ratio
    share: float  # of the cell's sessions in the thermal window


@dataclass(frozen=True)
class CellGap:
    """The lab-vs-field gap of one cell (splits only on the cell's own page and API detail)."""

    cell: Cell
    entry_id: int | None
    labels: CellLabels | None
    lab: LabFigure | None
    field_7d: FieldFigure
    field_30d: FieldFigure
    ratio_7d: Ratio
    ratio_30d: Ratio
    flagged: bool
    thermal: list[SplitRow] = field(default_factory=list)
    os_versions: list[SplitRow] = field(default_factory=list)
    thermal_states: list[ThermalStateRow] = field(default_factory=list)  # per reported state (thermal.py)
    energy_7d: EnergyFigure | None = None  # the cell's field energy per inference, thermal window (thermal rollups)

    @property
    def flagged_parts(self) -> list[str]:
        """What is flagged: the whole cell and/or parts of it (a gap only when throttled shows up here)."""
        parts = ["all sessions"] if self.flagged else []
        return parts + [row.label for row in (*self.thermal, *self.os_versions) if row.flagged]


def _split(key: str, label: str, totals: Totals, lab: LabFigure | None) -> SplitRow:
    figure = FieldFigure.from_totals(totals)
    ratio = Ratio.of(figure, lab)
    return SplitRow(key=key, label=label, field=figure, ratio=ratio, flagged=is_flagged(figure, ratio))


def _gap(
    cell: Cell, *, lab: LabFigure | None, labels, entry_id, totals_7d: Totals | None, totals_30d: Totals | None
) -> CellGap:
    field_7d, field_30d = FieldFigure.from_totals(totals_7d), FieldFigure.from_totals(totals_30d)
    ratio_7d = Ratio.of(field_7d, lab)
    return CellGap(
        cell=cell, entry_id=entry_id, labels=labels, lab=lab, field_7d=field_7d, field_30d=field_30d,
        ratio_7d=ratio_7d, ratio_30d=Ratio.of(field_30d, lab), flagged=is_flagged(field_7d, ratio_7d),
    )  # fmt: skip


def _entry_ids(cells) -> dict[Cell, int]:
    rows = CompatEntry.objects.filter(field_reads.cell_q(cells)).values_list(*CELL, "id")
    return {tuple(row[:4]): row[4] for row in rows}


def gaps_list(
    *, filters: Mapping[str, object] | None = None, flagged: bool | None = None, order: str = "devices",
    now: datetime | None = None,
) -> list[CellGap]:  # fmt: skip
    """Every cell with a lab figure and field sessions in the last 30 days, ranked (ORDERS); 7 queries whatever the
    number of cells: lab runs, 2 × (daily cell rollups, device activity), compat entries."""
    unknown = set(filters or {}) - set(CELL_FILTERS)
    if unknown:
        raise ValueError(f"not cell filters: {sorted(unknown)}")
    q = filter_q(filters or {})
    lab, labels = lab_figures(q=q, now=now)
    if not lab:
        return []
    field_q = q & field_reads.cell_q(lab)
    totals = {days: field_reads.cells_totals(days=days, q=field_q, now=now) for days in WINDOWS}
    cells = [cell for cell in lab if cell in totals[30]]
    entries = _entry_ids(cells)
    gaps = [
        _gap(
            cell,
            lab=lab[cell],
            labels=labels[cell],
            entry_id=entries.get(cell),
            totals_7d=totals[7].get(cell),
            totals_30d=totals[30][cell],
        )  # fmt: skip
        for cell in cells
    ]
    if flagged is not None:
        gaps = [gap for gap in gaps if gap.flagged == flagged]
    return sorted(gaps, key=ORDERS[order])


def entry_labels(entry: CompatEntry) -> CellLabels:
    return CellLabels(
        model=entry.model_version.ml_model.slug, model_version=entry.model_version.version,
        runtime=entry.runtime_version.runtime.slug, runtime_version=entry.runtime_version.version,
        delegate=entry.delegate.slug, device_model=entry.device_model.slug, device_model_name=entry.device_model.name,
    )  # fmt: skip


SPLIT_FIELDS = ("thermal", "os_versions", "thermal_states", "energy_7d")  # filled by cell_gap_get only


def cell_gap_get(*, entry: CompatEntry, now: datetime | None = None) -> CellGap:
    """One compat cell's gap with its thermal and OS-version splits and its thermal and energy attribution over the
    last 7 days (≤ 12 queries; the entry comes with its catalog rows joined: ENTRY_RELATED)."""
    cell = (entry.model_version_id, entry.runtime_version_id, entry.delegate_id, entry.device_model_id)
    q = Q(**dict(zip(CELL, cell, strict=True)))
    lab = lab_figures(q=q, now=now)[0].get(cell)
    totals = {days: field_reads.cells_totals(days=days, q=q, now=now).get(cell) for days in WINDOWS}
    gap = _gap(cell, lab=lab, labels=entry_labels(entry), entry_id=entry.pk, totals_7d=totals[7], totals_30d=totals[30])
    if totals[7] is None:
        return gap
    thermal = field_reads.thermal_split(cell=cell, days=7, now=now)
    by_os = field_reads.os_split(cell=cell, days=7, now=now)
    states = thermal_reads.thermal_states(q=q, now=now)
    in_window = sum(row.sessions for row in states)
    return CellGap(
        **{name: getattr(gap, name) for name in gap.__dataclass_fields__ if name not in SPLIT_FIELDS},
        thermal_states=[
            ThermalStateRow(row=row, ratio=Ratio.of(row, lab), share=row.sessions / in_window) for row in states
        ],
        energy_7d=EnergyFigure.combine(row.energy for row in states),
        thermal=[_split(key, Thermal.LABELS[key], totals, lab) for key, totals in thermal.items()],
        os_versions=[
            _split(os_version, f"OS {os_version or 'unknown'}", os_totals, lab)
            for os_version, os_totals in sorted(by_os.items(), key=lambda item: (-item[1].sessions, item[0]))
        ],
    )
