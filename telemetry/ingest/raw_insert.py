"""Idempotent inserts into the raw tables: the event_id key tables are the durable dedupe (docs/partitioning.md).

A partitioned table cannot hold a unique index on event_id alone, and the partition key (the corrected time) is
not the same for every resend of an event: so the batch's keys go into SessionEventKey / CrashEventKey first, in
the same transaction, and only the rows whose key was new are stored. Raw SQL (S608): identifiers come from model
meta, every value is a parameter.
"""

import uuid
import zlib
from collections.abc import Sequence
from datetime import UTC

from django.db import IntegrityError, connection, models
from psycopg.errors import UniqueViolation

from ..models.partitions import RawTable, raw_table_of
from .bulk import _copy, _fields, _insert_many, _quote
from .copy_text import copy_text

KEY_COLUMNS = ("event_id", "day")


class EventsAlreadyStored(Exception):
    """An optimistic COPY met an event_id already stored; the transaction is lost: redo the batch with
    `expect_stored=True`."""


def rows_insert_skipping_stored(
    *, model: type[models.Model], columns: Sequence[str], rows: list[tuple], expect_stored: bool = True
) -> set[uuid.UUID]:
    """Inserts rows (values in `columns` order, one column is event_id, unique among `rows`); returns the event_ids
    of the rows skipped because already stored (the duplicates: usually none, so nothing to send back).

    The key table's primary key is the durable dedupe, also against a concurrent identical batch (its insert waits
    on the key index, then does nothing). With `expect_stored=False` (a batch's first attempt) PostgreSQL COPYs
    straight into the key table and the raw table and raises EventsAlreadyStored if any event is stored already:
    the caller's transaction is then aborted and the caller redoes it with `expect_stored=True`.
    """
    if not rows:
        return set()
    raw = raw_table_of(model)
    event_position, time_position = list(columns).index("event_id"), list(columns).index(raw.time_column)
    if connection.vendor == "postgresql":
        # By event_id (PostgreSQL orders uuids as their big-endian integer): two batches sharing events take the
        # key index's locks in the same order, so they wait on each other instead of deadlocking.
        rows = sorted(rows, key=lambda row: row[event_position].int)
        return _rows_insert_postgres(raw=raw, columns=columns, rows=rows, expect_stored=expect_stored,
                                     keys=_keys(rows, event_position, time_position))  # fmt: skip
    return _rows_insert_portable(raw=raw, columns=columns, rows=rows, positions=(event_position, time_position))


def _keys(rows: list[tuple], event_position: int, time_position: int) -> list[tuple]:
    # The UTC day, as the partition bounds are UTC midnights: the key says which partition holds the row.
    return [(row[event_position], row[time_position].astimezone(UTC).date()) for row in rows]


def _rows_insert_postgres(
    *, raw: RawTable, columns: Sequence[str], rows: list[tuple], keys: list[tuple], expect_stored: bool
) -> set[uuid.UUID]:
    payload = copy_text(fields=_fields(raw.model, columns), rows=rows)
    cols = ", ".join(_quote(column) for column in columns)
    if expect_stored:
        return _rows_insert_staged(raw=raw, cols=cols, payload=payload)
    # Optimistic: a batch is almost never a resend, and COPY straight into the tables costs the database ~10 %
    # less than staging + INSERT … ON CONFLICT. A stored event_id aborts the key COPY (a concurrent identical batch
    # makes it wait for that batch's commit first), and with it the transaction: no savepoint per batch.
    try:
        _copy(f"COPY {_quote(raw.key_model._meta.db_table)} (event_id, day) FROM STDIN",
              copy_text(fields=_fields(raw.key_model, KEY_COLUMNS), rows=keys))  # fmt: skip
        # A raw table not yet partitioned (manage.py partition_raw_tables) still has its unique event_id index:
        # an event stored before the key table existed aborts here.
        _copy(f"COPY {_quote(raw.model._meta.db_table)} ({cols}) FROM STDIN", payload)
    except IntegrityError as error:
        if not isinstance(error.__cause__, UniqueViolation):
            raise
        # The tables' only unique columns are event_id and the generated id: an event is already stored.
        raise EventsAlreadyStored(str(error)) from error
    return set()


def _rows_insert_staged(*, raw: RawTable, cols: str, payload: str) -> set[uuid.UUID]:
    """COPY into a staging table, then the new keys and their rows in one statement; the event_ids already stored."""
    table, keys = _quote(raw.model._meta.db_table), _quote(raw.key_model._meta.db_table)
    # Named after its columns: a connection that outlives a migration never COPYs into a stale staging table.
    stage = _quote(f"stage_{raw.model._meta.db_table}_{zlib.crc32(cols.encode()):08x}")
    time = _quote(raw.time_column)
    with connection.cursor() as cursor:
        # One staging table per connection, emptied by every commit; a rollback empties it too.
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT {cols} FROM {table} WITH NO DATA"  # noqa: S608
        )
        cursor.execute(f"TRUNCATE {stage}")  # rows of an earlier staged call in this transaction
        _copy(f"COPY {stage} ({cols}) FROM STDIN", payload)
        # The row insert's ON CONFLICT (no target) only matters for a table not yet partitioned: an event stored
        # before its key was (the partitioned table has no unique index an event could meet).
        cursor.execute(
            f"WITH fresh AS (INSERT INTO {keys} (event_id, day) "  # noqa: S608
            f"SELECT event_id, ({time} AT TIME ZONE 'UTC')::date FROM {stage} ORDER BY event_id "
            f"ON CONFLICT (event_id) DO NOTHING RETURNING event_id), "
            f"inserted AS (INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
            f"WHERE event_id IN (SELECT event_id FROM fresh) ORDER BY event_id ON CONFLICT DO NOTHING RETURNING event_id) "
            f"SELECT event_id FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.event_id = s.event_id)"
        )
        return {event_id for (event_id,) in cursor.fetchall()}


def _rows_insert_portable(
    *, raw: RawTable, columns: Sequence[str], rows: list[tuple], positions: tuple[int, int]
) -> set[uuid.UUID]:
    # SQLite runs with transaction_mode IMMEDIATE: the batch holds the write lock, so the existence check is exact.
    event_position, time_position = positions
    existing = set(
        raw.key_model.objects.filter(event_id__in=[row[event_position] for row in rows]).values_list(
            "event_id", flat=True
        )
    )
    new_rows = [row for row in rows if row[event_position] not in existing]
    if new_rows:
        _insert_many(model=raw.key_model, columns=KEY_COLUMNS, rows=_keys(new_rows, event_position, time_position))
        _insert_many(model=raw.model, columns=columns, rows=new_rows)
    return existing
