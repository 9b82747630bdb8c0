"""Thermal and energy attribution (docs/lab-field.md, issue 19 item 5): field latency and energy per thermal state.

Every figure reads the thermal rollups (telemetry/models/thermal.py: per day × cell × lower-cased thermal state, and
the devices per day, cell and state) over the last 7 UTC days with two queries, whatever the number of sessions or
groups; never a raw session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F, Q

from telemetry.kpi.scope import filter_q

from .field import CELL, Cell, thermal_devices, thermal_sums

THERMAL_DAYS = 7
UNREPORTED_LABEL = "not reported"


@dataclass(frozen=True)
class EnergyFigure:
    """Energy per inference of a set of sessions: Σ(energy × inferences) ÷ Σ inferences over the sessions that report
    it (an inference-weighted mean, so a long session weighs what it ran). None: no session reported energy."""

    weighted_sum: float  # Σ energy_mj_per_inference × inferences, reporting sessions
    inferences: int  # Σ inferences, reporting sessions
    sessions: int  # sessions reporting energy

    @property
    def mj_per_inference(self) -> float | None:
        return self.weighted_sum / self.inferences if self.inferences else None

    @classmethod
    def combine(cls, figures: Iterable[EnergyFigure]) -> EnergyFigure:
        figures = list(figures)
        return cls(
            weighted_sum=sum(figure.weighted_sum for figure in figures),
            inferences=sum(figure.inferences for figure in figures),
            sessions=sum(figure.sessions for figure in figures),
        )


@dataclass(frozen=True)
class ThermalRow:
    """One thermal state's sessions on one device model (and one cell, when the read is of a cell)."""

    device_model_id: int
    device_model: str  # slug
    device_model_name: str
    state: str  # the reported thermal_state, lower-cased; "" when the session reported none
    throttled: bool  # the state is in LAB_FIELD_THROTTLED_STATES
    sessions: int
    devices: int  # distinct devices (exact)
    inferences: int
    p50_ms: float | None  # quantiles of the merged latency histograms of these sessions
    p95_ms: float | None
    energy: EnergyFigure

    @property
    def label(self) -> str:
        return self.state or UNREPORTED_LABEL

    @property
    def energy_mj_per_inference(self) -> float | None:
        return self.energy.mj_per_inference


def thermal_states(*, q: Q, days: int = THERMAL_DAYS, now: datetime | None = None) -> list[ThermalRow]:
    """Rows per (device model, thermal state) of the sessions matching ``q`` over the last ``days`` UTC days, from
    the thermal rollups (two queries: the daily rows with their device model, distinct devices per device model and
    state): device models by name, then the most sessions first."""
    fields = ("device_model_id", "device_model__slug", "device_model__name")
    sums = thermal_sums(q=q, days=days, fields=fields, key=lambda values, state: (*values, state), now=now)
    if not sums:
        return []
    devices = thermal_devices(q=q, days=days, group={"dm": F("device_model_id"), "state": F("thermal_state")}, now=now)
    throttled_states = set(settings.LAB_FIELD_THROTTLED_STATES)
    result = []
    for (device_model_id, slug, name, state), group in sums.items():
        p50, p95 = group.totals.histogram().quantiles((0.5, 0.95))
        result.append(
            ThermalRow(
                device_model_id=device_model_id, device_model=slug, device_model_name=name, state=state,
                throttled=state in throttled_states, sessions=group.totals.sessions,
                devices=devices.get((device_model_id, state), 0), inferences=group.totals.inferences,
                p50_ms=p50, p95_ms=p95,
                energy=EnergyFigure(
                    weighted_sum=group.energy_weighted_sum, inferences=group.energy_inferences,
                    sessions=group.energy_sessions,
                ),
            )
        )  # fmt: skip
    return sorted(result, key=lambda r: (r.device_model_name, r.device_model_id, -r.sessions, r.state))


def cell_q(cell: Cell) -> Q:
    return Q(**dict(zip(CELL, cell, strict=True)))


def thermal_list(*, filters: Mapping[str, object], cell: Cell | None = None, now: datetime | None = None):
    """The thermal attribution list (page, CSV and API): per device model × thermal state over the last 7 UTC days,
    of the sessions matching the cell filters, or of one cell (the rows of its page). Two queries."""
    q = filter_q(filters)
    if cell is not None:
        q &= cell_q(cell)
    return thermal_states(q=q, now=now)
