"""Thermal and energy attribution (docs/lab-field.md, issue 19 item 5): field latency and energy per thermal state.

Rollups keep neither the thermal state nor the energy, so every figure here reads raw `InferenceSession` rows over
the thermal window (the last 7 days, cut to RAW_RETENTION_DAYS) with two aggregate queries, whatever the number of
rows or groups: counts and energy sums per (device model, state), and histogram buckets summed in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Lower

from telemetry.kpi.histogram_sql import histogram_sums
from telemetry.kpi.scope import filter_q
from telemetry.kpi.totals import Totals
from telemetry.models import InferenceSession

from .field import CELL, Cell, thermal_window

THERMAL_DAYS = 7
UNREPORTED_LABEL = "not reported"
_REPORTS_ENERGY = Q(energy_mj_per_inference__isnull=False)


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
    """Rows per (device model, thermal state) of the sessions matching ``q`` in the thermal window (two queries):
    device models by name, then the most sessions first."""
    start, end = thermal_window(days, now=now)
    sessions = (
        InferenceSession.objects.filter(q, started_at__gte=start, started_at__lt=end)
        .annotate(state=Lower("thermal_state"))
        .order_by()
    )
    counts = sessions.values("device_model_id", "device_model__slug", "device_model__name", "state").annotate(
        n=Count("id"),
        inference_sum=Sum("inferences"),
        device_count=Count("device_id", distinct=True),
        energy_weighted=Sum(F("energy_mj_per_inference") * F("inferences"), filter=_REPORTS_ENERGY,
                            output_field=FloatField()),
        energy_inferences=Sum("inferences", filter=_REPORTS_ENERGY),
        energy_sessions=Count("id", filter=_REPORTS_ENERGY),
    )  # fmt: skip
    rows = list(counts)
    if not rows:
        return []
    histograms = histogram_sums(sessions, group_fields=("device_model_id", "state"), columns=("latency_histogram",))
    throttled_states = set(settings.LAB_FIELD_THROTTLED_STATES)
    result = []
    for row in rows:
        totals = Totals()
        latency_counts, zero = histograms.get((row["device_model_id"], row["state"]), {}).get(
            "latency_histogram", ({}, 0)
        )
        totals.add_histogram({"counts": latency_counts, "zero_count": zero})
        p50, p95 = totals.histogram().quantiles((0.5, 0.95))
        result.append(
            ThermalRow(
                device_model_id=row["device_model_id"],
                device_model=row["device_model__slug"],
                device_model_name=row["device_model__name"],
                state=row["state"],
                throttled=row["state"] in throttled_states,
                sessions=row["n"],
                devices=row["device_count"],
                inferences=row["inference_sum"] or 0,
                p50_ms=p50,
                p95_ms=p95,
                energy=EnergyFigure(
                    weighted_sum=row["energy_weighted"] or 0.0,
                    inferences=row["energy_inferences"] or 0,
                    sessions=row["energy_sessions"],
                ),
            )
        )
    return sorted(result, key=lambda r: (r.device_model_name, r.device_model_id, -r.sessions, r.state))


def cell_q(cell: Cell) -> Q:
    return Q(**dict(zip(CELL, cell, strict=True)))


def thermal_list(*, filters: Mapping[str, object], cell: Cell | None = None, now: datetime | None = None):
    """The thermal attribution list (page, CSV and API): per device model × thermal state over the thermal window,
    of the sessions matching the cell filters, or of one cell (the rows of its page). Two queries."""
    q = filter_q(filters)
    if cell is not None:
        q &= cell_q(cell)
    return thermal_states(q=q, now=now)
