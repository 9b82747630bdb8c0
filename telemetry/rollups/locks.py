"""Locks that serialize the recompute of one bucket (the constraint mode a rollup runs in: ingest.statements)."""

from datetime import datetime

from django.db import connection

LOCK_HOUR, LOCK_DAY, LOCK_DAY_COARSE, LOCK_TRAILING = 7301, 7302, 7303, 7304  # pg_advisory_xact_lock classes


def rollup_lock(kind: int, moment: datetime) -> None:
    """Serializes recomputes of one hour/day (concurrent delete+insert would collide on the unique constraint)."""
    if connection.vendor == "postgresql":  # SQLite serializes writers by itself
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [kind, int(moment.timestamp()) // 3600])
