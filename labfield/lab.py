"""Every read of lab runs for the lab-vs-field figures (docs/lab-field.md)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from django.conf import settings
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from benchmarks.models import BenchmarkRun, RunStatus

from .field import CELL, Cell

# The catalog names of a cell, read with its runs (no second query for labels).
LABEL_FIELDS = (
    "model_version__ml_model__slug",
    "model_version__version",
    "runtime_version__runtime__slug",
    "runtime_version__version",
    "delegate__slug",
    "device_model__slug",
    "device_model__name",
)


@dataclass(frozen=True)
class CellLabels:
    model: str
    model_version: str
    runtime: str
    runtime_version: str
    delegate: str
    device_model: str
    device_model_name: str


@dataclass(frozen=True)
class LabFigure:
    """The lab's word on a cell: medians over its latest successful runs (one noisy run moves a median little)."""

    runs: int
    p50_ms: float | None  # median of the runs' p50 (runs reporting one)
    p95_ms: float  # median of the runs' p95
    last_run_id: int
    last_ran_at: datetime
    # median of the runs' energy per inference (runs reporting one; no importer's tool prints it: JSON runs only)
    energy_mj_per_inference: float | None = None


def lab_figures(*, q: Q, now: datetime | None = None) -> tuple[dict[Cell, LabFigure], dict[Cell, CellLabels]]:
    """Per cell: the latest LAB_FIELD_LAB_RUNS done runs with a p95 of the last LAB_FIELD_LAB_DAYS (one query)."""
    since = (now or timezone.now()) - timedelta(days=settings.LAB_FIELD_LAB_DAYS)
    latest_first = Window(
        RowNumber(), partition_by=[F(column) for column in CELL], order_by=[F("ran_at").desc(), F("id").desc()]
    )
    rows = (
        BenchmarkRun.objects.filter(q, status=RunStatus.DONE, ran_at__gte=since, latency_p95_ms__isnull=False)
        .annotate(recency=latest_first)
        .filter(recency__lte=settings.LAB_FIELD_LAB_RUNS)
        .order_by()
        .values_list(
            *CELL, "id", "ran_at", "latency_p50_ms", "latency_p95_ms", "energy_mj_per_inference", *LABEL_FIELDS
        )
    )
    runs: dict[Cell, list[tuple]] = defaultdict(list)
    labels: dict[Cell, CellLabels] = {}
    width = len(CELL)
    for row in rows:
        cell = tuple(row[:width])
        runs[cell].append(row[width : width + 5])
        labels[cell] = CellLabels(*row[width + 5 :])
    figures = {}
    for cell, cell_runs in runs.items():
        last_id, last_at, *_ = max(cell_runs, key=lambda run: (run[1], run[0]))
        p50s = [run[2] for run in cell_runs if run[2] is not None]
        energies = [run[4] for run in cell_runs if run[4] is not None]
        figures[cell] = LabFigure(
            runs=len(cell_runs),
            p50_ms=median(p50s) if p50s else None,
            p95_ms=median(run[3] for run in cell_runs),
            last_run_id=last_id,
            last_ran_at=last_at,
            energy_mj_per_inference=median(energies) if energies else None,
        )
    return figures, labels
