"""Thin Celery tasks for rollups and retention: parse arguments, call a service (acks_late, idempotent)."""

from datetime import datetime

from celery import shared_task

from .retention import raw_retention_enforce
from .rollups import rollup_hours_close, rollup_hours_compute


@shared_task(acks_late=True, max_retries=5, time_limit=900, soft_time_limit=840)
def rollup_hours_task(*, hours: list[str], only_dirty: bool = False) -> int:
    """Recomputes the given hours (ISO 8601 hour starts) from raw rows, their days, and the touched cells' evidence.

    Queued by ingest with `only_dirty`: hours still marked are claimed (another task never redoes them), and hours
    a batch re-marked meanwhile are queued again, so one task per hour is in flight however many batches arrive.
    """
    result = rollup_hours_compute(hours=[datetime.fromisoformat(hour) for hour in hours], only_dirty=only_dirty)
    return len(result.hours)


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def rollup_hours_close_task() -> int:
    """Periodic: closes the recent hours and sweeps hours still marked dirty."""
    return len(rollup_hours_close().hours)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def raw_retention_task() -> dict[str, int]:
    """Periodic: deletes raw sessions and crashes older than RAW_RETENTION_DAYS (rollups are kept)."""
    return raw_retention_enforce()


from .alerts_tasks import alerts_evaluate_task  # noqa: E402,F401  (alert evaluation, registered for autodiscovery)
