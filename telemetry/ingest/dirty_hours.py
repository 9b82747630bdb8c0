"""Dirty hours: ingest marks the hours whose raw rows it changed, in its own transaction, for the rollup to redo.

The mark survives a lost message for the periodic sweep; the rollup clears it in the transaction that recomputes
the hour (telemetry/rollups/hourly.py), and the API view queues the rollup of hours that were clean.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..kpi.buckets import hour_floors
from ..models import RollupDirtyHour
from .statements import prepared_cursor


def rollup_hours_mark_dirty(*, hours: Iterable[datetime]) -> set[datetime]:
    """Marks hours dirty in the caller's transaction; returns the hours that need a queued rollup: those that were
    clean, and those already dirty whose rollup was queued over ROLLUP_REQUEUE_DELAY_S ago (its message may be lost).

    An hour already dirty otherwise only gets a new marked_at: the task rolling it up sees that and re-queues it, so
    under load one task per hour is in flight per delay, not one per batch. The mark survives a lost message.
    """
    marks = sorted(hour_floors(hours))  # same row-lock order in every batch: no deadlock
    if not marks:
        return set()
    now = timezone.now()
    stale = now - timedelta(seconds=max(settings.ROLLUP_REQUEUE_DELAY_S, 1))
    table = connection.ops.quote_name(RollupDirtyHour._meta.db_table)
    if connection.vendor == "postgresql":
        # xmax = 0 only on a freshly inserted row; the upsert is atomic against a rollup deleting the mark.
        with prepared_cursor() as cursor:  # an ingest batch's statement: one text for any number of hours
            cursor.execute(
                f"INSERT INTO {table} (hour, marked_at, queued_at) SELECT hour, %s::timestamptz, %s::timestamptz "  # noqa: S608
                f"FROM unnest(%s::timestamptz[]) AS m (hour) ON CONFLICT (hour) "
                f"DO UPDATE SET marked_at = GREATEST(EXCLUDED.marked_at, {table}.marked_at + interval '1 microsecond'), "
                f"queued_at = CASE WHEN {table}.queued_at < %s::timestamptz THEN EXCLUDED.queued_at "
                f"ELSE {table}.queued_at END "
                f"RETURNING hour, (xmax = 0) OR queued_at = %s::timestamptz",
                [now, now, marks, stale, now],
            )
            return {hour for hour, to_queue in cursor.fetchall() if to_queue}
    # SQLite serializes writers (transaction_mode IMMEDIATE): read-then-write is exact.
    existing = set(RollupDirtyHour.objects.filter(hour__in=marks).values_list("hour", flat=True))
    requeued = set(
        RollupDirtyHour.objects.filter(hour__in=existing, queued_at__lt=stale).values_list("hour", flat=True)
    )
    RollupDirtyHour.objects.filter(hour__in=existing).update(marked_at=now)
    RollupDirtyHour.objects.filter(hour__in=requeued).update(queued_at=now)
    RollupDirtyHour.objects.bulk_create(
        [RollupDirtyHour(hour=hour, marked_at=now, queued_at=now) for hour in marks if hour not in existing]
    )
    return (set(marks) - existing) | requeued
