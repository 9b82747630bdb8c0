"""Day partitions of the raw tables on PostgreSQL (docs/partitioning.md): created ahead by beat, dropped whole at
retention. Partitions are named `<table>_pYYYYMMDD` and cover one UTC day of the table's time column; the default
partition `<table>_default` catches any time no day partition covers, so no event is ever refused for its time.

Raw SQL (S608): identifiers come from model meta and dates formatted here, never from input.
"""

import logging
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from ..models.partitions import RAW_TABLES, RawTable

logger = logging.getLogger(__name__)


def table_partitioned(table: str) -> bool:
    """Whether `table` is a partitioned table (PostgreSQL, converted by migration 0012 or partition_raw_tables)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [table])
        return cursor.fetchone() is not None


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _day_start(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat()


def day_partitions(table: str, *, name_as: str | None = None) -> dict[date, str]:
    """{UTC day: partition name} of the day partitions attached to `table` (the default partition aside)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass AND c.relname ~ %s",
            [table, f"^{name_as or table}_p[0-9]{{8}}$"],
        )
        names = [name for (name,) in cursor.fetchall()]
    return {datetime.strptime(name.rsplit("_p", 1)[1], "%Y%m%d").date(): name for name in names}  # noqa: DTZ007


def raw_partitions_ensure(*, now: datetime | None = None, days_ahead: int | None = None) -> list[str]:
    """Creates the missing day partitions from the retention cutoff's day to `days_ahead` days after today, on each
    partitioned raw table; returns the names created. Idempotent: beat runs it hourly."""
    created = []
    for raw in RAW_TABLES:
        table = raw.model._meta.db_table
        if table_partitioned(table):
            created += day_partitions_ensure(table=table, column=raw.time_column, now=now, days_ahead=days_ahead)
    if created:
        logger.info("raw partitions created: %s (%s … %s)", len(created), created[0], created[-1])
    return created


def day_partitions_ensure(
    *, table: str, column: str, now: datetime | None = None, days_ahead: int | None = None, name_as: str | None = None
) -> list[str]:
    """The missing day partitions of partitioned `table` (by `column`) from the retention cutoff's day to
    `days_ahead` days after today, named after `name_as` (a twin being built for that table) or `table`."""
    now = now or datetime.now(UTC)
    days_ahead = settings.RAW_PARTITIONS_AHEAD_DAYS if days_ahead is None else days_ahead
    day = (now - timedelta(days=settings.RAW_RETENTION_DAYS)).astimezone(UTC).date()
    last = now.astimezone(UTC).date() + timedelta(days=days_ahead)
    existing, created = day_partitions(table, name_as=name_as), []
    while day <= last:
        if day not in existing:
            partition_create(table=table, column=column, day=day, name=partition_name(name_as or table, day))
            created.append(partition_name(name_as or table, day))
        day += timedelta(days=1)
    return created


def partition_create(*, table: str, column: str, day: date, name: str) -> None:
    """Creates one day partition. Rows of that day already in the default partition (beat was down, or a copy
    ran ahead of it) are moved into it in the same transaction: PostgreSQL refuses to attach a range the default
    partition holds rows of."""
    column = connection.ops.quote_name(column)
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid "
            "WHERE p.partrelid = %s::regclass",
            [table],
        )
        default = cursor.fetchone()[0]
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {column} >= %s AND {column} < %s)", [start, end])  # noqa: S608
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ('{start}') TO ('{end}')")
            return
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s RETURNING *) "  # noqa: S608
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")


def raw_partitions_drop(*, cutoff: datetime) -> dict[str, int]:
    """Detaches and drops every day partition wholly before `cutoff` (its day ends at or before it); the rows each
    table lost. Crash links into a dropped session partition are cleared first (no database FK does it)."""
    dropped: dict[str, int] = {}
    crashes = connection.ops.quote_name(RAW_TABLES[0].model._meta.db_table)
    for raw in RAW_TABLES:
        table = raw.model._meta.db_table
        dropped[table] = 0
        if not table_partitioned(table):
            continue
        for day, name in sorted(day_partitions(table).items()):
            if datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) > cutoff:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                # Deferred FK checks of rows written in this transaction would block the DROP: run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"SELECT count(*) FROM {name}")  # noqa: S608
                dropped[table] += cursor.fetchone()[0]
                if raw is not RAW_TABLES[0]:
                    cursor.execute(
                        f"UPDATE {crashes} SET inference_session_id = NULL "  # noqa: S608
                        f"WHERE inference_session_id IN (SELECT id FROM {name})"
                    )
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            logger.info("raw retention: dropped partition %s", name)
    return dropped


def default_partition_older_delete(*, raw: RawTable, cutoff: datetime, chunk_size: int = 5000) -> int:
    """Deletes the default partition's rows older than `cutoff` in chunks (it holds only times no day partition
    covered: normally none)."""
    table, column = raw.model._meta.db_table, connection.ops.quote_name(raw.time_column)
    default, crashes = f"{table}_default", connection.ops.quote_name(RAW_TABLES[0].model._meta.db_table)
    total = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {default} WHERE id IN (SELECT id FROM {default} WHERE {column} < %s LIMIT %s) "  # noqa: S608
                f"RETURNING id",
                [cutoff, chunk_size],
            )
            ids = [row_id for (row_id,) in cursor.fetchall()]
            if ids and raw is not RAW_TABLES[0]:
                cursor.execute(
                    f"UPDATE {crashes} SET inference_session_id = NULL WHERE inference_session_id = ANY(%s)",  # noqa: S608
                    [ids],
                )
        total += len(ids)
        if len(ids) < chunk_size:
            return total
