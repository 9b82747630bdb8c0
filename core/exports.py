"""CSV and JSON downloads of a table: one shape for every page that offers an export.

A text cell that a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with a quote in CSV: device
and crash texts come from the field, and opening an export must never execute one of them (CSV injection)."""

import csv
import json
from collections.abc import Iterable, Sequence

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = ("csv", "json")


def _csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def table_export(
    *, rows: Iterable[dict], fields: Sequence[str], fmt: str, filename: str, meta: dict | None = None
) -> HttpResponse:
    """`rows` as `filename`.csv (a header of `fields`) or .json ({**meta, "results": rows}); fmt is csv or json."""
    if fmt == "json":
        body = {**(meta or {}), "results": [{field: row.get(field) for field in fields} for row in rows]}
        response = HttpResponse(json.dumps(body, cls=DjangoJSONEncoder, indent=1), content_type="application/json")
    else:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        writer = csv.writer(response)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_csv_cell(row.get(field)) for field in fields])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
