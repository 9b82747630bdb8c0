"""The online move of a plain raw table (a PostgreSQL database that held rows before migration 0012) into its
day-partitioned layout: manage.py partition_raw_tables (docs/partitioning.md).

1. A partitioned twin `<table>_partitioned` is built beside the table (its day partitions already carry their final
   names), and a trigger on the table mirrors every insert, update and delete into the twin from then on: ingest
   keeps writing to the table throughout.
2. Rows are copied in batches, keyset by id, each batch with its event keys and the checkpoint (RawTableCopy) in one
   transaction: a kill loses at most the batch in flight, and the next run resumes after the checkpoint. A batch
   locks its rows (FOR SHARE): an update racing it waits, and its trigger then mirrors the new version.
3. The swap, in one short transaction under an exclusive lock: the last rows, the id sequence, drop the table,
   rename the twin and its default partition, primary key, indexes and foreign keys to the table's names.

Raw SQL (S608): identifiers come from model meta and names derived here, never from input.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from ..models.partitions import RAW_TABLES, RawTableCopy, RawTableCopyStatus
from .partitions import day_partitions_ensure, table_partitioned

logger = logging.getLogger(__name__)

TWIN_SUFFIX = "_partitioned"
INDEX_SUFFIX = "_pt"  # the twin's indexes and constraints, renamed to the table's own names at the swap


@dataclass(frozen=True, slots=True)
class PlainTable:
    """A raw table to partition: its name, time (partition) column and event key table."""

    table: str
    time_column: str
    key_table: str


def raw_plain_tables() -> list[PlainTable]:
    return [PlainTable(raw.model._meta.db_table, raw.time_column, raw.key_model._meta.db_table) for raw in RAW_TABLES]


def table_partition_online(
    *, plain: PlainTable, batch_size: int = 50_000, swap: bool = True, batch_hook: Callable[[int], None] | None = None
) -> RawTableCopy:
    """Partitions `plain.table` online (resumable: run it again after a kill); `batch_hook(rows)` runs inside each
    batch's transaction before its commit (tests use it to die mid-copy)."""
    progress, _ = RawTableCopy.objects.get_or_create(table=plain.table)
    if table_partitioned(plain.table):
        return progress
    twin = plain.table + TWIN_SUFFIX
    if not _exists(twin):
        _twin_create(plain=plain, twin=twin)
    day_partitions_ensure(table=twin, column=plain.time_column, name_as=plain.table)
    while _batch_copy(plain=plain, twin=twin, batch_size=batch_size, batch_hook=batch_hook):
        pass
    if swap:
        _swap(plain=plain, twin=twin, batch_size=batch_size)
    progress.refresh_from_db()
    return progress


def _exists(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return cursor.fetchone()[0]


def _twin_create(*, plain: PlainTable, twin: str) -> None:
    table, column = plain.table, connection.ops.quote_name(plain.time_column)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT x.indisunique",
            [table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype = 'f'",
            [table],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(
            f"CREATE TABLE {twin} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
            f"INCLUDING STORAGE) PARTITION BY RANGE ({column})"
        )
        cursor.execute(f"ALTER TABLE {twin} ADD CONSTRAINT {twin}_pkey PRIMARY KEY (id, {column})")
        for name, definition in indexes:
            # "CREATE INDEX name ON public.table USING …": the same index on the twin, under a provisional name.
            head, tail = definition.split(" ON ", 1)
            on = tail.split(" ", 1)
            cursor.execute(f"{head.replace(name, name + INDEX_SUFFIX, 1)} ON {on[0]}{TWIN_SUFFIX} {on[1]}")
        for name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {twin} ADD CONSTRAINT {name}{INDEX_SUFFIX} {definition}")
        cursor.execute(f"CREATE TABLE {twin}_default PARTITION OF {twin} DEFAULT")
        # Mirrors every write from now on. Creating the trigger waits for the table's open writes: every row the
        # trigger does not mirror was committed before, so a batch copies it.
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {table}_mirror() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
            f"IF TG_OP IN ('UPDATE', 'DELETE') THEN "
            f"DELETE FROM {twin} WHERE id = OLD.id AND {column} = OLD.{column}; END IF; "
            f"IF TG_OP IN ('INSERT', 'UPDATE') THEN INSERT INTO {twin} SELECT (NEW).* ON CONFLICT DO NOTHING; END IF; "
            f"RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER {table}_mirror AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_mirror()"
        )
    logger.info("partition %s: twin %s created, writes mirrored", table, twin)


def _batch_copy(*, plain: PlainTable, twin: str, batch_size: int, batch_hook: Callable[[int], None] | None) -> int:
    """Copies the next batch after the checkpoint with its event keys, and moves the checkpoint; the rows copied."""
    table, column = plain.table, connection.ops.quote_name(plain.time_column)
    with transaction.atomic(), connection.cursor() as cursor:
        progress = RawTableCopy.objects.select_for_update().get(table=table)
        # The rows already mirrored by the trigger conflict on the twin's primary key and are left as they are.
        cursor.execute(
            f"WITH batch AS (SELECT * FROM {table} WHERE id > %s ORDER BY id LIMIT %s FOR SHARE), "  # noqa: S608
            f"copied AS (INSERT INTO {twin} SELECT * FROM batch ON CONFLICT DO NOTHING), "
            f"keyed AS (INSERT INTO {plain.key_table} (event_id, day) "
            f"SELECT event_id, ({column} AT TIME ZONE 'UTC')::date FROM batch ON CONFLICT (event_id) DO NOTHING) "
            f"SELECT count(*), max(id) FROM batch",
            [progress.copied_up_to_id, batch_size],
        )
        rows, last_id = cursor.fetchone()
        if not rows:
            return 0
        progress.copied_up_to_id, progress.rows_copied = last_id, progress.rows_copied + rows
        progress.save(update_fields=["copied_up_to_id", "rows_copied"])
        if batch_hook:
            batch_hook(rows)
    logger.info("partition %s: copied up to id %s (%s rows)", table, last_id, progress.rows_copied)
    return rows


def _swap(*, plain: PlainTable, twin: str, batch_size: int) -> None:
    table = plain.table
    with transaction.atomic(), connection.cursor() as cursor:
        # Ingest waits here for the swap's few statements; the copy has caught up, so only the latest rows remain.
        cursor.execute(f"LOCK TABLE {table}, {twin} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred FK checks pending on the table would block its DROP
        while _batch_copy(plain=plain, twin=twin, batch_size=batch_size, batch_hook=None):
            pass
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), GREATEST((SELECT max(id) FROM {table}), "  # noqa: S608
            f"(SELECT last_value FROM {table}_id_seq), 1))",
            [twin],
        )
        cursor.execute(
            "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT x.indisprimary",
            [twin],
        )
        indexes = [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [twin],
        )
        foreign_keys = [name for (name,) in cursor.fetchall()]
        cursor.execute(f"DROP TABLE {table}")
        cursor.execute(f"DROP FUNCTION {table}_mirror()")
        cursor.execute(f"ALTER TABLE {twin} RENAME TO {table}")
        cursor.execute(f"ALTER TABLE {twin}_default RENAME TO {table}_default")
        cursor.execute(f"ALTER SEQUENCE IF EXISTS {twin}_id_seq RENAME TO {table}_id_seq")
        cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {twin}_pkey TO {table}_pkey")
        for name in indexes:
            if name.endswith(INDEX_SUFFIX):
                cursor.execute(f"ALTER INDEX {name} RENAME TO {name.removesuffix(INDEX_SUFFIX)}")
        for name in foreign_keys:
            if name.endswith(INDEX_SUFFIX):
                cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {name.removesuffix(INDEX_SUFFIX)}")
        RawTableCopy.objects.filter(table=table).update(status=RawTableCopyStatus.SWAPPED, finished_at=timezone.now())
    logger.info("partition %s: swapped in", table)
