"""HTML pages of the matrix: parse the request, call selectors/services, render."""

import csv
import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from core.exports import EXPORT_FORMATS, table_export

from . import changes as status_changes
from . import selectors, services
from .filtersets import CompatEntryFilterSet
from .forms import ChangesForm, ClearOverrideForm, KnownIssuesForm, MatrixViewForm, OverrideForm
from .models import CompatEntry, DeviceModel, ModelVersion
from .panels import cell_panels_get

CHANGES_PER_PAGE = 50

# The filters the page shows (the API takes every filter, ids included).
PAGE_FILTERS = (
    "q",
    "model",
    "model_version",
    "task",
    "precision",
    "runtime",
    "runtime_version",
    "delegate_kind",
    "vendor",
    "tier",
    "os",
    "status",
)
# Row and column filters of the shared FilterSet, as lookups on the catalog model of that axis.
ROW_LOOKUPS = {
    "model": "ml_model__in",
    "model_id": "ml_model_id",
    "model_version": "pk__in",
    "model_version_id": "pk",
    "task": "ml_model__task__in",
    "precision": "precision__in",
    "format": "format__in",
}
COLUMN_LOOKUPS = {
    "device_model": "pk__in",
    "device_model_id": "pk",
    "vendor": "vendor__in",
    "tier": "tier__in",
    "os": "os_family__in",
}


def _axis(model, filterset: CompatEntryFilterSet, lookups: dict[str, str]):
    """Rows or columns of the matrix: the catalog narrowed by the row/column filters of the same FilterSet."""
    data = filterset.form.cleaned_data
    given = {lookup: _pks(data[name]) for name, lookup in lookups.items() if _given(data.get(name))}
    return model.objects.filter(**given)


def _pks(value):
    # Slug and natural-key filters clean to rows; a `pk__in` lookup takes their ids, not the rows (TypeError).
    if isinstance(value, list | tuple | QuerySet):
        return [getattr(item, "pk", item) for item in value]
    return value


@require_GET
def matrix(request):
    filterset = CompatEntryFilterSet(request.GET, queryset=CompatEntry.objects.all(), request=request)
    view_form = MatrixViewForm(request.GET)
    view_form.is_valid()
    context = {
        "filterset": filterset,
        "view_form": view_form,
        "matrix": None,
        "query": request.GET.urlencode(),
        "page_filters": PAGE_FILTERS,
    }
    if not filterset.is_valid() or "overlay" in view_form.errors:
        return render(request, "compat/matrix.html", context, status=400)
    group = view_form.cleaned_data.get("group") or "vendor"
    pivot = view_form.cleaned_data.get("pivot") or "devices"
    devices = _axis(DeviceModel, filterset, COLUMN_LOOKUPS)
    if pivot == "runtimes":
        versions = filterset.form.cleaned_data.get("model_version") or []
        if len(versions) != 1:
            context["pivot_error"] = "Pick exactly one model version (filter “Model version”) to pivot by runtime."
        else:
            context["pivot_version"] = versions[0]
            context["matrix"] = selectors.matrix_by_runtime_get(
                entries=filterset.qs, model_version=versions[0], device_models=devices
            )
    else:
        versions = _axis(ModelVersion, filterset, ROW_LOOKUPS)
        context["matrix"] = selectors.matrix_get(
            entries=filterset.qs,
            model_versions=versions,
            device_models=devices,
            group_by=group,
            prune_empty=_narrowed(filterset),
            overlay=view_form.cleaned_data.get("overlay") or "",
        )
    context.update(pivot=pivot, group=group, legend=selectors.STATUS_GLYPHS.items())
    return render(request, "compat/matrix.html", context)


def _narrowed(filterset: CompatEntryFilterSet) -> bool:
    """Cell-level filters (status, runtime, search...) hide rows and columns left without any matching cell."""
    axis = set(ROW_LOOKUPS) | set(COLUMN_LOOKUPS)
    return any(_given(value) for name, value in filterset.form.cleaned_data.items() if name not in axis)


def _given(value) -> bool:
    # Empty multi-selects clean to [] or an empty queryset (qs.none(), no query to test it).
    if value is None or value == "":
        return False
    return not (hasattr(value, "__len__") and len(value) == 0)


@require_http_methods(["GET", "POST"])
def cell(request, pk: int):
    entry = get_object_or_404(CompatEntry, pk=pk)
    override_form, notes_form = OverrideForm(), KnownIssuesForm(initial={"known_issues": entry.known_issues})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "override":
                override_form = OverrideForm(request.POST)
                if override_form.is_valid():
                    services.compat_entry_override(entry=entry, user=request.user, **override_form.cleaned_data)
                    messages.success(request, "Override saved; the derived status stays visible next to it.")
                    return redirect("compat:cell", pk=pk)
            elif action == "clear":
                form = ClearOverrideForm(request.POST)
                form.is_valid()
                services.compat_entry_override_clear(
                    entry=entry, user=request.user, reason=form.cleaned_data.get("reason", "")
                )
                messages.success(request, "Override cleared.")
                return redirect("compat:cell", pk=pk)
            elif action == "notes":
                notes_form = KnownIssuesForm(request.POST)
                if notes_form.is_valid():
                    services.compat_entry_notes_update(
                        entry=entry, user=request.user, known_issues=notes_form.cleaned_data["known_issues"]
                    )
                    messages.success(request, "Known issues saved.")
                    return redirect("compat:cell", pk=pk)
            else:
                return HttpResponse("Unknown action.", status=400)
        except ValidationError as exc:
            override_form.add_error(None, exc)
        status = 400
    entry = selectors.entry_detail_get(entry_id=pk)
    context = {
        "entry": entry,
        "evidence": selectors.evidence_for_entry(entry),
        "history": sorted(entry.history.all(), key=lambda change: change.changed_at, reverse=True),
        "siblings": selectors.entry_siblings_list(entry=entry),
        "override_form": override_form,
        "notes_form": notes_form,
        "can_override": request.user.has_perm("compat.override_compatentry"),
        "can_edit_notes": request.user.has_perm("compat.edit_compat_notes"),
        "glyphs": selectors.STATUS_GLYPHS,
        "panels": cell_panels_get(entry=entry),  # sections of apps above compat (compat/panels.py)
    }
    return render(request, "compat/cell.html", context, status=status)


@require_GET
def _changes_days(request) -> tuple[ChangesForm, int]:
    form = ChangesForm(request.GET)
    return form, (form.cleaned_data.get("days") or 7 if form.is_valid() else 7)


def changes(request):
    form, days = _changes_days(request)
    page = Paginator(status_changes.changes_list(days=days), CHANGES_PER_PAGE).get_page(request.GET.get("page"))
    kept = request.GET.copy()
    kept.pop("page", None)
    context = {
        "form": form,
        "days": days,
        "changes": page.object_list,
        "page": page,
        "query_string": kept.urlencode(),
        "glyphs": selectors.STATUS_GLYPHS,
    }
    return render(request, "compat/changes.html", context, status=200 if form.is_valid() else 400)


@require_GET
def changes_export(request, fmt: str):
    """The changes of the page's period (up to changes_list's limit), as CSV or JSON."""
    if fmt not in EXPORT_FORMATS:
        raise Http404("Export as export.csv or export.json.")
    _, days = _changes_days(request)
    rows = status_changes.changes_export_rows(status_changes.changes_list(days=days))
    return table_export(rows=rows, fields=status_changes.CHANGE_EXPORT_FIELDS, fmt=fmt, filename="compat-changes",
                        meta={"days": days})  # fmt: skip


def _export_filterset(request) -> CompatEntryFilterSet | HttpResponse:
    filterset = CompatEntryFilterSet(request.GET, queryset=CompatEntry.objects.all(), request=request)
    if not filterset.is_valid():
        return HttpResponse(
            json.dumps({"errors": filterset.errors.get_json_data()}), status=400, content_type="application/json"
        )
    return filterset


class _Echo:
    def write(self, value):
        return value


@require_GET
def export_csv(request):
    filterset = _export_filterset(request)
    if isinstance(filterset, HttpResponse):
        return filterset
    writer = csv.DictWriter(_Echo(), fieldnames=selectors.EXPORT_FIELDS)
    rows = selectors.export_rows(entries=filterset.qs)
    lines = (writer.writerow(row) for row in rows)
    header = writer.writerow(dict(zip(selectors.EXPORT_FIELDS, selectors.EXPORT_FIELDS, strict=True)))
    response = StreamingHttpResponse((line for part in ([header], lines) for line in part), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="compat-matrix.csv"'
    return response


@require_GET
def export_json(request):
    filterset = _export_filterset(request)
    if isinstance(filterset, HttpResponse):
        return filterset
    rows = list(selectors.export_rows(entries=filterset.qs))
    response = HttpResponse(
        json.dumps({"count": len(rows), "results": rows}, cls=DjangoJSONEncoder), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="compat-matrix.json"'
    return response
