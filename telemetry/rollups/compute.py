"""Rollup runs: the given hours, then their days, the trailing windows over them, then 7-day field evidence of every
touched compat cell.

A run never queues a task: hours that a batch re-marked while they were rolled up come back in
RollupResult.still_dirty, and the task that ran the rollup queues them again (telemetry/tasks.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone

from ..kpi.buckets import HOUR, hour_floor, hours_between
from ..models import RollupDirtyHour
from .daily import rollup_day_compute
from .evidence import field_evidence_push
from .fallback import fallback_day_replace, fallback_hour_replace
from .hourly import rollup_hour_compute
from .thermal import thermal_day_replace, thermal_hour_replace
from .trailing import trailing_rollups_rebuild

CLOSE_LOOKBACK_HOURS = 2  # the periodic task re-closes the current and previous hours


@dataclass
class RollupResult:
    """What one rollup run did."""

    hours: list[datetime]
    days: list[date]
    cells: set[tuple[int, int, int, int]]
    evidence_items: int = 0
    still_dirty: list[datetime] = field(default_factory=list)  # re-marked meanwhile: to be queued again
    windows: list[str] = field(default_factory=list)  # trailing windows rebuilt (rollups/trailing.py)


def rollup_hours_compute(
    *, hours: Iterable[datetime], push_evidence: bool = True, only_dirty: bool = False
) -> RollupResult:
    """Recomputes the given hours, then their days, then pushes 7-day field evidence of every touched compat cell.

    With `only_dirty` (the queued task), hours another task already rolled up are skipped (result.hours omits them),
    and hours a batch re-marked during their rollup are listed in result.still_dirty.
    """
    started = timezone.now()
    hour_list, still_dirty = [], []
    cells: set[tuple[int, int, int, int]] = set()
    for hour in sorted({hour_floor(h) for h in hours}):
        touched = rollup_hour_compute(hour=hour, only_dirty=only_dirty)
        if touched is not None:
            hour_list.append(hour)
            cells |= touched.cells
            if touched.still_dirty:
                still_dirty.append(hour)
    for hour in hour_list:
        fallback_hour_replace(hour=hour)  # drift's firmware and fallback-op rows (rollups/fallback.py)
        thermal_hour_replace(hour=hour)  # the thermal and energy attribution's rows (rollups/thermal.py)
    days = sorted({h.date() for h in hour_list})
    for day in days:
        rollup_day_compute(day=day)
        fallback_day_replace(day=day)
        thermal_day_replace(day=day)
    # After the days are committed: the dashboards' preset windows over these hours are summed again.
    windows = trailing_rollups_rebuild(hours=hour_list) if hour_list else []
    result = RollupResult(hours=hour_list, days=days, cells=cells, still_dirty=still_dirty, windows=windows)
    if push_evidence and cells:
        result.evidence_items = field_evidence_push(cells=cells, now=started)
    return result


def rollup_range_compute(*, start: datetime, end: datetime) -> RollupResult:
    """Recomputes every hour of [start, end) (simulator, backfills); evidence is pushed once at the end."""
    return rollup_hours_compute(hours=hours_between(start, end))


def rollup_hours_close(*, now: datetime | None = None) -> RollupResult:
    """Periodic: recomputes the recent hours plus every hour still marked dirty (late events, lost messages)."""
    now = now or timezone.now()
    recent = hours_between(now - CLOSE_LOOKBACK_HOURS * HOUR, now)
    dirty = list(RollupDirtyHour.objects.values_list("hour", flat=True)[:500])
    return rollup_hours_compute(hours=[*recent, *dirty])
