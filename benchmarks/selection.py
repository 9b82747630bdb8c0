"""Runs ticked on the runs list: which comparison they make, or why they make none (a message for the user)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import BenchmarkRun, RunStatus

PAIR, BASELINE = "pair", "baseline"
MAX_AGAINST_BASELINE = 12  # columns of one table; each run's latency samples are loaded for the tests


@dataclass(frozen=True)
class Selection:
    """A checked selection: `error` for the user, or the runs to compare (candidate first for a pair)."""

    error: str = ""
    runs: tuple[BenchmarkRun, ...] = ()
    baseline: BenchmarkRun | None = None


def run_ids_parse(values: list[str]) -> list[int] | None:
    """The ticked run ids in order, duplicates dropped; None when one is not a run id."""
    ids = []
    for value in values:
        if not value.isdigit() or not 0 < int(value) < 2**63:
            return None
        ids.append(int(value))
    return list(dict.fromkeys(ids))


def selection_check(*, mode: str, requested: list[int], runs: list[BenchmarkRun]) -> Selection:
    """Two runs make a pair (the later one is the candidate); N done runs of one series go against its baseline."""
    if len(runs) < len(requested):
        return Selection(error="Some of the ticked runs no longer exist; tick them again.")
    if mode == PAIR:
        if len(runs) != 2:
            return Selection(error=f"Tick exactly two runs to compare them (you ticked {len(runs)}).")
        older, newer = runs  # runs come oldest first
        return Selection(runs=(newer, older))
    if mode != BASELINE:
        return Selection(error="Choose “Compare two runs” or “Compare with the series baseline”.")
    if not runs:
        return Selection(error="Tick one or more runs of one series to compare them with its baseline.")
    series_ids = {run.series_id for run in runs}
    if len(series_ids) > 1:
        return Selection(
            error=f"The ticked runs belong to {len(series_ids)} series; a baseline comparison takes runs of one "
            "series (same model version, runtime, delegate and device model). Filter by series first."
        )
    series = runs[0].series
    if series.baseline_run is None:
        return Selection(error="This series has no pinned baseline: pin one on a run's page, or compare two runs.")
    candidates = [run for run in runs if run.id != series.baseline_run_id]
    if not candidates:
        return Selection(error="You ticked only the baseline itself; tick the runs to compare with it.")
    if len(candidates) > MAX_AGAINST_BASELINE:
        return Selection(error=f"Tick at most {MAX_AGAINST_BASELINE} runs to compare with the baseline.")
    unfinished = [run.id for run in candidates if run.status != RunStatus.DONE]
    if unfinished:
        return Selection(error=f"Run #{unfinished[0]} has not finished; it has no figures to compare.")
    return Selection(runs=tuple(candidates), baseline=series.baseline_run)
