"""Raw retention: raw sessions and crashes older than RAW_RETENTION_DAYS go, in chunks; rollups are kept."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from ..models import CrashReport, HourlySessionPartial, InferenceSession

logger = logging.getLogger(__name__)


def raw_retention_enforce(*, now: datetime | None = None, chunk_size: int = 5000) -> dict[str, int]:
    """Deletes raw sessions, crashes and session partials older than RAW_RETENTION_DAYS in chunks; rollups are kept."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.RAW_RETENTION_DAYS)
    deleted = {"crashes": 0, "sessions": 0, "session_partials": 0}
    # Crashes first: they point at sessions (SET_NULL would otherwise rewrite rows we are about to delete). A
    # partial goes with its hour's sessions: an hour before the cutoff is never rolled up again.
    for key, model, column in (
        ("crashes", CrashReport, "occurred_at"),
        ("sessions", InferenceSession, "started_at"),
        ("session_partials", HourlySessionPartial, "bucket_start"),
    ):
        deleted[key] = rows_older_delete(model=model, column=column, cutoff=cutoff, chunk_size=chunk_size)
    logger.info("raw retention: deleted %s older than %s", deleted, cutoff.isoformat())
    return deleted


def rows_older_delete(*, model: type[Model], column: str, cutoff: datetime, chunk_size: int = 5000) -> int:
    """Deletes `model` rows whose `column` is before `cutoff`, a chunk per transaction (short locks, bounded memory)."""
    total = 0
    while True:
        ids = list(model.objects.filter(**{f"{column}__lt": cutoff}).values_list("id", flat=True)[:chunk_size])
        if not ids:
            return total
        with transaction.atomic():
            model.objects.filter(id__in=ids).delete()
        total += len(ids)
