"""Lab-vs-field pages: the ranked gap list and its CSV export (same rows, same numbers)."""

import csv

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .export import CSV_HEADER, csv_row
from .params import gap_query_parse
from .selectors import gaps_list

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
