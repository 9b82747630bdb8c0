"""Lab-vs-field pages: the ranked gap list, the coverage-gap report, and their CSV exports (same rows, same numbers)."""

import csv

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.exports import table_export
from telemetry.kpi.scope import filter_choices, scope_parse

from .coverage_report import CSV_HEADER as COVERAGE_CSV_HEADER
from .coverage_report import coverage_report_get
from .coverage_report import csv_row as coverage_csv_row
from .drift import drift_list
from .export import CSV_HEADER, DRIFT_FIELDS, THERMAL_CSV_HEADER, csv_row, drift_row, thermal_csv_row
from .params import drift_query_parse, gap_query_parse, thermal_query_parse
from .selectors import gaps_list
from .thermal import thermal_list

PAGE_SIZE = 50


@require_GET
def gaps(request):
    context = {"ratio_limit": settings.LAB_FIELD_GAP_RATIO, "min_sessions": settings.LAB_FIELD_MIN_SESSIONS}
    try:
        query = gap_query_parse(request.GET)
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        return render(request, "labfield/gaps.html", context, status=400)
    page = Paginator(gaps_list(filters=query.filters, flagged=query.flagged, order=query.order), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    params = request.GET.copy()
    params.pop("page", None)
    context.update(page=page, gaps=page.object_list, query=params.urlencode(), params=request.GET)
    return render(request, "labfield/gaps.html", context)


@require_GET
def gaps_csv(request):
    try:
        query = gap_query_parse(request.GET)
    except ValidationError as exc:
        return HttpResponse(str(exc.message_dict), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="lab-field-gaps.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for gap in gaps_list(filters=query.filters, flagged=query.flagged, order=query.order):
        writer.writerow(csv_row(gap))
    return response


@require_GET
def thermal(request):
    """Thermal and energy attribution by device model: latency and energy per thermal state (docs/lab-field.md)."""
    context = {"params": request.GET, "query": request.GET.urlencode()}
    try:
        query = thermal_query_parse(request.GET)
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        return render(request, "labfield/thermal.html", context, status=400)
    page = Paginator(thermal_list(filters=query.filters, cell=query.cell), PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context.update(page=page, rows=page.object_list, query=params.urlencode())
    return render(request, "labfield/thermal.html", context)


@require_GET
def thermal_csv(request):
    try:
        query = thermal_query_parse(request.GET)
    except ValidationError as exc:
        return HttpResponse(str(exc.message_dict), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="lab-field-thermal.csv"'
    writer = csv.writer(response)
    writer.writerow(THERMAL_CSV_HEADER)
    for row in thermal_list(filters=query.filters, cell=query.cell):
        writer.writerow(thermal_csv_row(row))
    return response


@require_GET
def coverage(request):
    """The coverage-gap report: what the lab should benchmark next (the home card's scope: `range` and filters)."""
    scope = scope_parse(request.GET, default_range="7d")
    report = coverage_report_get(scope=scope)
    page = Paginator(report.gaps, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "scope": scope, "coverage": report.coverage, "page": page, "gaps": page.object_list,
        "query": scope.query_string, "lab_days": settings.LAB_COVERAGE_DAYS, **filter_choices(),
        "share_text": "–" if report.coverage.share is None else f"{report.coverage.share:.0%}",  # as the home card
    }  # fmt: skip
    return render(request, "labfield/coverage.html", context)


@require_GET
def coverage_csv(request):
    scope = scope_parse(request.GET, default_range="7d")
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="lab-coverage-gaps.csv"'
    writer = csv.writer(response)
    writer.writerow(COVERAGE_CSV_HEADER)
    for row in coverage_report_get(scope=scope).gaps:
        writer.writerow(coverage_csv_row(row))
    return response


def _drift_context() -> dict:
    return {"points_limit": settings.LAB_FIELD_DRIFT_POINTS, "min_sessions": settings.LAB_FIELD_DRIFT_MIN_SESSIONS}


@require_GET
def drift(request):
    """Delegate-fallback drift, by devices affected (docs/lab-field.md)."""
    context = _drift_context()
    try:
        query = drift_query_parse(request.GET)
    except ValidationError as exc:
        context["errors"] = exc.message_dict
        return render(request, "labfield/drift.html", context, status=400)
    rows = drift_list(filters=query.filters, drifting=query.drifting, order=query.order)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    context.update(page=page, drifts=page.object_list, query=params.urlencode(), params=request.GET)
    return render(request, "labfield/drift.html", context)


@require_GET
def drift_csv(request):
    try:
        query = drift_query_parse(request.GET)
    except ValidationError as exc:
        return HttpResponse(str(exc.message_dict), status=400, content_type="text/plain")
    rows = drift_list(filters=query.filters, drifting=query.drifting, order=query.order)
    return table_export(rows=map(drift_row, rows), fields=DRIFT_FIELDS, fmt="csv", filename="lab-field-drift")
