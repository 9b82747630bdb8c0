"""Thin Celery tasks (acks_late, idempotent): parse arguments, call a service; and the one place rollups are queued.

Services never queue: ingest returns the hours it found clean and marked (the API view hands them to
rollup_hours_queue on commit), a rollup returns the hours a batch re-marked meanwhile (rollup_hours_task queues them
again, ROLLUP_REQUEUE_DELAY_S later). Task names are part of the beat schedule and of queued messages: keep them.
"""

import logging
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as BrokerError

from .alerts.evaluation import alerts_evaluate
from .ingest.dirty_hours import rollup_hours_mark_dirty
from .rollups.compute import rollup_hours_close, rollup_hours_compute
from .rollups.partitions import raw_partitions_ensure
from .rollups.retention import raw_retention_enforce

logger = logging.getLogger(__name__)


# A database error (restart, failover) is retried with backoff: 1, 2, 4 … ≤ 60 s, jittered; the marks stay meanwhile.
@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=8,
    time_limit=900,
    soft_time_limit=840,
)
def rollup_hours_task(*, hours: list[str], only_dirty: bool = False) -> int:
    """Recomputes the given hours (ISO 8601 hour starts) from raw rows, their days, and the touched cells' evidence.

    Queued by ingest with `only_dirty`: hours still marked are claimed (another task never redoes them), and hours
    a batch re-marked meanwhile are queued again, so one task per hour is in flight however many batches arrive.
    """
    result = rollup_hours_compute(hours=[datetime.fromisoformat(hour) for hour in hours], only_dirty=only_dirty)
    if result.still_dirty:
        # Not at once: a busy hour is recomputed at most every ROLLUP_REQUEUE_DELAY_S, not back to back.
        rollup_hours_queue(hours=result.still_dirty, countdown=settings.ROLLUP_REQUEUE_DELAY_S)
    return len(result.hours)


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def rollup_hours_close_task() -> int:
    """Periodic: closes the recent hours and sweeps hours still marked dirty."""
    return len(rollup_hours_close().hours)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def raw_retention_task() -> dict[str, int]:
    """Periodic: drops or deletes raw sessions and crashes older than RAW_RETENTION_DAYS (rollups are kept)."""
    return raw_retention_enforce()


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def raw_partitions_ensure_task() -> int:
    """Periodic: creates the raw tables' missing day partitions up to RAW_PARTITIONS_AHEAD_DAYS ahead (PostgreSQL)."""
    return len(raw_partitions_ensure())


# The name it was registered under before the alert task moved here (beat schedule, queued messages).
@shared_task(
    name="telemetry.alerts_tasks.alerts_evaluate_task",
    acks_late=True,
    time_limit=300,
    soft_time_limit=240,
    ignore_result=True,
)
def alerts_evaluate_task() -> dict:
    """Evaluates every enabled AlertRule on the rollups and delivers pending webhooks."""
    result = alerts_evaluate()
    return {"rules": result.rules, "opened": len(result.opened), "resolved": len(result.resolved)}


# -- queueing the rollup -----------------------------------------------------------------------------------------

_deferred = threading.Event()


@contextmanager
def rollups_deferred():
    """Within this block ingest only marks hours dirty (no task per batch); the caller rolls the range up after."""
    _deferred.set()
    try:
        yield
    finally:
        _deferred.clear()


def rollup_hours_queue(*, hours: Iterable[datetime], on_commit: bool = False, countdown: int = 0) -> None:
    """Queues the rollup task for hours marked dirty; the task skips any hour another task already rolled up.

    With `on_commit`, sent when the caller's transaction commits (at once outside one); nothing is sent inside
    a rollups_deferred() block or for no hours.
    """
    payload = sorted(h.isoformat() for h in hours)
    if not payload or (on_commit and _deferred.is_set()):
        return

    def send() -> None:
        try:
            rollup_hours_task.apply_async(kwargs={"hours": payload, "only_dirty": True}, countdown=countdown or None)
        except (BrokerError, OSError) as error:
            # The marks are committed: the next batch for these hours re-queues them, the beat sweep at the latest.
            logger.warning("rollup not queued (broker unavailable), %d hours stay marked: %s", len(payload), error)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()


def rollup_hours_enqueue(*, hours: Iterable[datetime]) -> None:
    """Marks the hours dirty in the caller's transaction and queues the rollup of those that were clean on commit.

    Pass every hour whose raw rows changed: sessions' started_at hours, crashes' occurred_at hours, and the
    started_at hour of any session whose has_crash flipped.
    """
    rollup_hours_queue(hours=rollup_hours_mark_dirty(hours=hours), on_commit=True)
