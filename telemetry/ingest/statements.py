"""Cursors for the ingest path's per-batch statements: PostgreSQL plans each one once per connection.

Planning was most of what those statements cost the database: the catalog read took ~300 µs to plan and ~40 µs to
run, per batch. Django's cursors bind parameters client-side and so never use prepared statements; this one binds
them server-side, and the connection prepares every statement such a cursor runs (settings: `prepare_threshold`),
keyed by its text. So statements run here keep one text whatever the batch holds: lists go in as one array
(`any_of`), not as a placeholder per value. Behind a pooler in transaction mode, prepared statements need PgBouncer
1.21+ with `max_prepared_statements`.
"""

from collections.abc import Collection, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def prepared_cursor() -> CursorWrapper:
    """A cursor of the current connection (Django's wrapper: errors, execute wrappers and query logging as usual)
    whose statements PostgreSQL prepares; any other database's plain cursor."""
    db = connections[DEFAULT_DB_ALIAS]  # one thread-local lookup, not one per attribute through the proxy
    if db.vendor != "postgresql":
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        cursor = ServerBindingCursor(db.connection)
    return _LoggedCursor(cursor, db) if db.queries_logged else db.make_cursor(cursor)


class _LoggedCursor(CursorDebugWrapper):
    """Logs each statement as written: a prepared statement leaves psycopg no text for Django to report."""

    def execute(self, sql, params=None):
        with self.debug_sql(sql, params):
            return CursorWrapper.execute(self, sql, params)


def any_of(values: Collection[Any]) -> tuple[str, list[Any]]:
    """(`= ANY(%s)` and the values as one array parameter) on PostgreSQL: the same text for any number of values;
    elsewhere (`IN (%s, …)`, one parameter per value)."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values)) or 'NULL'})", list(values)


def rows_cte(name: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """A WITH item `name (column, …)` holding `rows` (values in `columns` order, (column, PostgreSQL type) pairs):
    on PostgreSQL one typed array per column, unnested (the same text for any number of rows); elsewhere VALUES.
    Names and types come from the caller's code, never from input (S608)."""
    names = ", ".join(column for column, _ in columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
        values = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in columns]
        return f"{name} ({names}) AS (SELECT * FROM unnest({arrays}))", values  # noqa: S608
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
    return f"{name} ({names}) AS (VALUES {placeholders})", [value for row in rows for value in row]
