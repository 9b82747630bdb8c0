"""Rows as PostgreSQL COPY text format, built column by column from the target Django fields.

psycopg's ``copy.write_row`` adapts value by value in Python-visible steps (~20 µs per ingest row, the largest
single cost of the web process on the ingest path). Here each column is encoded by a few C-level calls for the
whole column: numbers, times and uuids as one msgspec JSON array split on its separators (~10× cheaper than
``repr``/``isoformat`` per value), strings escaped once joined. Every encoder checks its column's types first, so a
str can never reach a column unescaped: a value of an unexpected type raises TypeError instead of corrupting the
stream.
"""

import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

import msgspec
from django.db import models

NULL = "\\N"
_json_encode = msgspec.json.Encoder().encode
_BOOLEANS = {True: "t", False: "f"}
_UNIT = "\x00"  # joins a str column for one escaping pass: PostgreSQL text cannot hold it, so it cannot be a value


def _types_check(column: Sequence[Any], allowed: set[type], *, subclasses: bool = False) -> None:
    # One C-level pass for the column's set of types. Numbers are exact types: a bool is an int, not a number here.
    found = set(map(type, column))
    wrong = [kind for kind in found if not (issubclass(kind, tuple(allowed)) if subclasses else kind in allowed)]
    if wrong:
        names = ", ".join(sorted(kind.__name__ for kind in wrong))
        raise TypeError(f"COPY column of {'/'.join(sorted(k.__name__ for k in allowed))} holds {names}")


def _json_scalars(column: Sequence[Any]) -> list[str]:
    # msgspec writes a JSON array of numbers/strings in one C call; none of these scalars contains `,` or `"`.
    if not column:
        return []
    text = _json_encode(column).decode()
    return text[2:-2].split('","') if text[1] == '"' else text[1:-1].split(",")


def _floats(column: Sequence[Any]) -> list[str]:
    _types_check(column, {float, int})
    # msgspec writes the shortest text that reads back to the same double, but NaN/±inf as `null`.
    encoded = _json_scalars(list(map(float, column)))
    if "null" in encoded:
        raise ValueError("COPY float column holds NaN or infinity")
    return encoded


def _ints(column: Sequence[Any]) -> list[str]:
    _types_check(column, {int})
    return _json_scalars(column)


def _datetimes(column: Sequence[datetime]) -> list[str]:
    _types_check(column, {datetime})
    return _json_scalars(column)  # RFC 3339 with the value's offset ("Z" for UTC), which PostgreSQL reads


def _dates(column: Sequence[date]) -> list[str]:
    _types_check(column, {date})  # exact: a datetime (a date subclass) would lose its time here
    return _json_scalars(column)  # ISO 8601 (YYYY-MM-DD)


def _uuids(column: Sequence[uuid.UUID]) -> list[str]:
    _types_check(column, {uuid.UUID})
    return _json_scalars(column)


def _jsons(column: Sequence[Any]) -> list[str]:
    # Like the ORM's JSONField: every value is JSON-encoded (None becomes JSON null, not SQL NULL). JSON escapes
    # every control character inside strings and msgspec writes no whitespace: a backslash is the only special.
    return [_json_encode(value).decode().replace("\\", "\\\\") for value in column]


def _texts(column: Sequence[str]) -> list[str]:
    _types_check(column, {str}, subclasses=True)  # TextChoices members are str
    joined = _UNIT.join(column)
    if joined.count(_UNIT) != len(column) - 1:
        raise ValueError("COPY text column holds a NUL character, which PostgreSQL text cannot store")
    # Backslash first, then the delimiter (tab) and the line ends.
    escaped = joined.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.split(_UNIT)


def _booleans(column: Sequence[bool]) -> list[str]:
    return list(map(_BOOLEANS.__getitem__, column))


@cache  # per model field: the isinstance chain below ran for every column of every batch
def _encoder(field: models.Field) -> Callable[[Sequence[Any]], list[str]]:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if isinstance(field, models.JSONField):
        return _jsons
    if isinstance(field, models.UUIDField):
        return _uuids
    if isinstance(field, models.BooleanField):
        return _booleans
    if isinstance(field, models.IntegerField | models.AutoField | models.BigAutoField):
        return _ints
    if isinstance(field, models.FloatField):
        return _floats
    if isinstance(field, models.DateTimeField):
        return _datetimes
    if isinstance(field, models.DateField):
        return _dates
    if isinstance(field, models.CharField | models.TextField):
        return _texts
    raise TypeError(f"no COPY text encoder for {type(field).__name__} {field.name!r}")


def _column_text(field: models.Field, column: Sequence[Any]) -> list[str]:
    encode = _encoder(field)
    if isinstance(field, models.JSONField):  # not by equality below: [1] == [True] but they encode differently
        return encode(column)
    first = column[0]
    # Batch-wide values (device, cohort, receive time) are encoded once: cheap to detect, most of a row.
    if first is not None and first == column[-1] and column.count(first) == len(column):
        return encode([first]) * len(column)
    if field.null and None in column:
        values = [value for value in column if value is not None]
        encoded = iter(encode(values))
        return [NULL if value is None else next(encoded) for value in column]
    return encode(column)


def copy_text(*, fields: Sequence[models.Field], rows: Sequence[Sequence[Any]]) -> str:
    """The COPY ... FROM STDIN text-format body of ``rows`` (values in ``fields`` order), one line per row."""
    if not rows:
        return ""
    columns = list(zip(*rows, strict=True))
    if len(columns) != len(fields):
        raise ValueError(f"rows have {len(columns)} values, {len(fields)} fields given")
    encoded = [_column_text(field, column) for field, column in zip(fields, columns, strict=True)]
    return "\n".join(map("\t".join, zip(*encoded, strict=True))) + "\n"
