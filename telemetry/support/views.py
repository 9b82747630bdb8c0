"""Support pages: crash groups (list, detail, triage actions) and device lookup."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from core.exports import EXPORT_FORMATS, table_export
from core.fleets import fleet_filter, fleets_allowed

from ..kpi.scope import RANGE_CHOICES, catalog_options, scope_parse, time_range_parse
from ..models import CrashGroup, CrashGroupStatus, Device
from . import charts, crash_list, devices, selectors, triage
from .triage import TRIAGE_PERMISSION

EXPORT_LIMIT = 10_000


def compat_cell_url(entry) -> str:
    """The compat engineer's cell page when its URL exists, else the matrix filtered to the cell."""
    try:
        return reverse("compat:cell", kwargs={"pk": entry.pk})
    except NoReverseMatch:
        return (
            f"/compat/?model_version={entry.model_version_id}&runtime_version={entry.runtime_version_id}"
            f"&delegate={entry.delegate_id}&device_model={entry.device_model_id}"
        )


def crash_group_detail(request, pk: int):
    time_range = time_range_parse(params=request.GET, default="30d")
    try:
        detail = selectors.crash_group_detail_get(group_id=pk, start=time_range.start, end=time_range.end)
    except CrashGroup.DoesNotExist as exc:
        raise Http404("No such crash group (it may have been merged into another).") from exc
    context = {
        "detail": detail,
        "group": detail.group,
        "time_range": time_range,
        "events_chart": charts.crash_events_chart(points=detail.events_over_time),
        "cells": [(entry, compat_cell_url(entry)) for entry in detail.cells],
        "can_triage": request.user.has_perm(TRIAGE_PERMISSION),
        "assignable_users": triage.assignable_users() if request.user.has_perm(TRIAGE_PERMISSION) else [],
        "statuses": CrashGroupStatus.choices,
        "undoable_merges": triage.merges_undoable(audit=detail.audit),
    }
    return render(request, "telemetry/crash_group_detail.html", context)


@require_POST
@permission_required(TRIAGE_PERMISSION, raise_exception=True)
def crash_group_triage(request, pk: int):
    """One form post per action; the service audits it; back to the group page with a message."""
    group = get_object_or_404(CrashGroup, pk=pk)
    action = request.POST.get("action", "")
    user = request.user
    try:
        if action == "acknowledge":
            triage.crash_group_acknowledge(group_id=group.pk, user=user)
        elif action == "assign":
            username = request.POST.get("assignee", "")
            assignee = triage.assignable_users().filter(username=username).first() if username else None
            if username and assignee is None:
                raise ValidationError({"assignee": f"{username} cannot triage crash groups."})
            triage.crash_group_assign(group_id=group.pk, user=user, assignee=assignee)
        elif action == "resolve":
            triage.crash_group_resolve(
                group_id=group.pk, user=user, resolved_in_version=request.POST.get("resolved_in_version", "")
            )
        elif action == "ignore":
            triage.crash_group_ignore(group_id=group.pk, user=user)
        elif action == "reopen":
            triage.crash_group_reopen(group_id=group.pk, user=user)
        elif action == "note":
            triage.crash_group_note_add(group_id=group.pk, user=user, body=request.POST.get("body", ""))
        elif action == "merge":
            source_id = int(request.POST.get("source", "0") or 0)
            source = CrashGroup.objects.filter(pk=source_id).first()
            if source is None:
                raise ValidationError({"source": f"There is no crash group #{source_id}."})
            if source.pk == group.pk:
                raise ValidationError({"source": "A group cannot be merged into itself."})
            if request.POST.get("confirm") != "yes":  # the confirm step: what moves where, one more button
                groups = (("Merge this", source), ("into this", group))
                return render(request, "telemetry/crash_group_merge_confirm.html",
                              {"source": source, "target": group, "groups": groups})  # fmt: skip
            triage.crash_group_merge(target_id=group.pk, source_id=source_id, user=user)
        elif action == "unmerge":
            source_id = int(request.POST.get("source", "0") or 0)
            triage.crash_group_unmerge(target_id=group.pk, source_id=source_id, user=user)
        else:
            raise ValidationError({"action": f"Unknown action {action!r}."})
    except (ValidationError, ValueError) as exc:
        text = "; ".join(getattr(exc, "messages", [str(exc)]))
        messages.error(request, f"Not done: {text}")
    else:
        messages.success(request, f"Done: {action}.")
    return redirect("crashes:detail", pk=group.pk)


def device_search(request):
    q = request.GET.get("q", "").strip()
    found = devices.devices_search(q=q, fleets=fleets_allowed(request))
    exact = bool(found) and found[0].uid.lower() == q.lower()
    if (len(found) == 1 or exact) and request.GET.get("go") != "list":
        return redirect("fleet:device", uid=found[0].uid)
    return render(request, "telemetry/device_search.html", {"q": q, "devices": found})


def device_detail(request, uid: str):
    fleets = fleets_allowed(request)
    device = get_object_or_404(fleet_filter(Device.objects.select_related("device_model"), request), uid=uid)
    time_range = time_range_parse(params=request.GET, default="7d")
    page = int(request.GET["page"]) if request.GET.get("page", "").isdigit() else 1
    timeline = devices.device_timeline_get(device=device, start=time_range.start, end=time_range.end, page=page)
    kept = request.GET.copy()
    kept.pop("page", None)
    cells = devices.device_cells_get(device=device, start=time_range.start, end=time_range.end)
    context = {
        "device": device,
        "time_range": time_range,
        "timeline": timeline.items,
        "timeline_page": timeline,
        "query_string": kept.urlencode(),
        "cells": [(entry, compat_cell_url(entry)) for entry in cells],
        "range_choices": RANGE_CHOICES[:3],
        # The cohort's figures are summed over every fleet: not for a fleet-limited user (core.fleets).
        "kpi_rows": None
        if fleets is not None
        else devices.device_kpis_vs_cohort(device=device, start=time_range.start, end=time_range.end),
    }
    return render(request, "telemetry/device_detail.html", context)


@require_GET
def device_timeline_export(request, uid: str, fmt: str):
    """The device's timeline over the page's range (up to EXPORT_LIMIT sessions and crashes), as CSV or JSON."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("Export as timeline.csv or timeline.json.")
    device = get_object_or_404(fleet_filter(Device.objects.all(), request), uid=uid)
    time_range = time_range_parse(params=request.GET, default="7d")
    rows = devices.device_timeline_export_rows(
        device=device, start=time_range.start, end=time_range.end, limit=EXPORT_LIMIT
    )
    meta = {"device": device.uid, "from": time_range.start.isoformat(), "to": time_range.end.isoformat()}
    return table_export(rows=rows, fields=devices.TIMELINE_EXPORT_FIELDS, fmt=fmt, filename=f"timeline-{uid[:40]}",
                        meta=meta)  # fmt: skip


def paginate(request, queryset, per_page: int = 50):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _crash_list_scope(request):
    """The list's groups (the shared filters, seen in the page's range) and its range (`range` as on fleet pages)."""
    time_range = scope_parse(request.GET, default_range="30d").time_range
    params = request.GET.copy()
    for name in ("from", "to"):  # the page's from/to are its range (to: inclusive day), applied just below
        params.pop(name, None)
    groups = selectors.crash_groups_list(params=params)
    return crash_list.crash_groups_in_range(groups, start=time_range.start, end=time_range.end), time_range


def crash_group_list(request):
    groups, time_range = _crash_list_scope(request)
    page = paginate(request, groups)
    figures = crash_list.crash_groups_figures(
        group_ids=[group.pk for group in page], start=time_range.start, end=time_range.end
    )
    kept = request.GET.copy()
    kept.pop("page", None)
    context = {
        "page": page,
        "rows": [(group, figures.get(group.pk)) for group in page],
        "params": request.GET,
        "time_range": time_range,
        "range_choices": RANGE_CHOICES,
        "query_string": kept.urlencode(),
        "statuses": CrashGroupStatus.choices,
        "sorts": (("recent", "Last seen"), ("events", "Events"), ("devices", "Devices"), ("newest", "Newest")),
        **catalog_options(),
    }
    return render(request, "telemetry/crash_group_list.html", context)


@require_GET
def crash_group_export(request, fmt: str):
    """The crash list with the page's filters and range, unpaged (up to EXPORT_LIMIT groups), as CSV or JSON."""
    if fmt not in ("csv", "json"):
        raise Http404("Export as export.csv or export.json.")
    groups, time_range = _crash_list_scope(request)
    groups = list(groups[:EXPORT_LIMIT])
    figures = crash_list.crash_groups_figures(
        group_ids=[group.pk for group in groups], start=time_range.start, end=time_range.end
    )
    rows = crash_list.crash_group_export_rows(groups=groups, figures=figures)
    if fmt == "json":
        body = {"from": time_range.start.isoformat(), "to": time_range.end.isoformat(), "results": rows}
        return JsonResponse(body, json_dumps_params={"indent": 1})
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="crash-groups.csv"'
    writer = csv.DictWriter(response, fieldnames=list(crash_list.EXPORT_FIELDS))
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "daily_events": " ".join(map(str, row["daily_events"]))})
    return response
