"""Release-readiness pages: every model version's verdict, one version's report (with exports), a cell's card."""

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from compat.models import CompatEntry, ModelVersion

from . import exports, rules, selectors

PAGE_SIZE = 50


def _model_version(model: str, version: str) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.select_related("ml_model"), ml_model__slug=model, version=version)


@require_GET
def release_list(request):
    versions = ModelVersion.objects.select_related("ml_model").order_by(
        "ml_model__name", "ml_model_id", "-first_seen_at", "-id"
    )
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    reports = selectors.versions_readiness_get(model_versions=list(page.object_list))
    context = {"page": page, "reports": reports, "labels": rules.VERDICT_LABELS}
    return render(request, "readiness/list.html", context)


@require_GET
def release_detail(request, model: str, version: str):
    report = selectors.version_readiness_get(model_version=_model_version(model, version))
    return render(request, "readiness/release.html", {"report": report, "labels": rules.VERDICT_LABELS})


@require_GET
def release_export(request, model: str, version: str, fmt: str):
    mv = _model_version(model, version)
    report = selectors.version_readiness_get(model_version=mv)
    name = f"release-readiness-{mv.ml_model.slug}-{mv.version}"
    if fmt == "csv":
        response = HttpResponse(exports.as_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    elif fmt == "md":
        body = exports.as_markdown(report, base_url=request.build_absolute_uri("/").rstrip("/"))
        response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.md"'
    else:
        response = HttpResponse("Unknown export format: use csv or md.", status=404, content_type="text/plain")
    return response


@require_GET
def cell_card(request, pk: int):
    """The verdict card the compat cell page loads (compat links to it by URL: it never imports this app)."""
    try:
        path = selectors.path_readiness_get(entry_id=pk)
    except CompatEntry.DoesNotExist:
        return HttpResponse("No such compat cell.", status=404, content_type="text/plain")
    return render(request, "readiness/_cell_card.html", {"path": path})
