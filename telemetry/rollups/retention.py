"""Raw retention: raw sessions and crashes older than RAW_RETENTION_DAYS go, rollups are kept.

On PostgreSQL with partitioned raw tables whole day partitions are dropped (a row outlives the window by less than
a day) and only the default partition is deleted from; elsewhere (SQLite, a table not yet partitioned) rows are
deleted in chunks. The event keys go a day after their partition (docs/partitioning.md).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from ..models import DeviceActivityHour, DeviceLackingHour, HourlyFallbackPartial, HourlySessionPartial
from ..models.partitions import RAW_TABLES
from .partitions import default_partition_older_delete, raw_partitions_drop, table_partitioned

logger = logging.getLogger(__name__)

KEY_GRACE = timedelta(days=1)  # a key outlives its row's partition by a day: its dedupe never ends before the row


def raw_retention_enforce(*, now: datetime | None = None, chunk_size: int = 5000) -> dict[str, int]:
    """Removes raw sessions, crashes, their event keys and partials (session and fallback) older than RAW_RETENTION_DAYS."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RAW_RETENTION_DAYS)
    deleted = dict.fromkeys(
        ("crashes", "sessions", "session_partials", "fallback_partials", "activity_hours", "event_keys"), 0
    )
    dropped = raw_partitions_drop(cutoff=cutoff)
    # Crashes first: they point at sessions (SET_NULL would otherwise rewrite rows we are about to delete). A
    # partial goes with its hour's sessions: an hour before the cutoff is never rolled up again.
    for key, raw in zip(("crashes", "sessions"), RAW_TABLES, strict=True):
        table = raw.model._meta.db_table
        if table_partitioned(table):
            removed = dropped[table] + default_partition_older_delete(raw=raw, cutoff=cutoff, chunk_size=chunk_size)
        else:
            removed = rows_older_delete(model=raw.model, column=raw.time_column, cutoff=cutoff, chunk_size=chunk_size)
        deleted[key] = removed
        deleted["event_keys"] += rows_older_delete(
            model=raw.key_model, column="day", cutoff=(cutoff - KEY_GRACE).date(), chunk_size=chunk_size
        )
    for key, model in (("session_partials", HourlySessionPartial), ("fallback_partials", HourlyFallbackPartial)):
        deleted[key] = rows_older_delete(model=model, column="bucket_start", cutoff=cutoff, chunk_size=chunk_size)
    # Range edges before the cutoff count their whole days (kpi.reads.device_pieces): the hour rows go too.
    deleted["activity_hours"] = sum(
        rows_older_delete(model=model, column="hour", cutoff=cutoff, chunk_size=chunk_size)
        for model in (DeviceActivityHour, DeviceLackingHour)
    )
    logger.info("raw retention: removed %s older than %s", deleted, cutoff.isoformat())
    return deleted


def rows_older_delete(*, model: type[Model], column: str, cutoff: datetime, chunk_size: int = 5000) -> int:
    """Deletes `model` rows whose `column` is before `cutoff`, a chunk per transaction (short locks, bounded memory)."""
    total = 0
    while True:
        ids = list(model.objects.filter(**{f"{column}__lt": cutoff}).values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return total
        with transaction.atomic():
            model.objects.filter(pk__in=ids).delete()
        total += len(ids)
