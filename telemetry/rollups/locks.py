"""Locks that serialize the recompute of one bucket, and the constraint mode a rollup transaction runs in."""

from datetime import datetime

from django.db import connection

LOCK_HOUR, LOCK_DAY, LOCK_DAY_COARSE, LOCK_TRAILING = 7301, 7302, 7303, 7304  # pg_advisory_xact_lock classes


def rollup_lock(kind: int, moment: datetime) -> None:
    """Serializes recomputes of one hour/day (concurrent delete+insert would collide on the unique constraint)."""
    if connection.vendor == "postgresql":  # SQLite serializes writers by itself
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [kind, int(moment.timestamp()) // 3600])


def constraints_immediate() -> None:
    """Checks this transaction's foreign keys as each row goes in, not at COMMIT.

    The rollup clears the hour's dirty mark last. Deferred to COMMIT, its foreign-key checks (crash-group rollup rows
    → crash group, activity rows → device) waited there for an ingest batch holding that group or device, while the
    batch waited for the cleared mark: a deadlock (seen in perf/ingest_bench.py). Checked early, the rollup waits for
    the batch before it touches the mark.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
