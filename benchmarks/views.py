"""Benchmark pages: runs, a run, the comparison report, the regression dashboard; thin over selectors/services."""

from urllib.parse import parse_qsl, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.redirects import redirect_back

from . import charts, field_impact, selection, selectors
from .filtersets import BenchmarkRunFilterSet, RegressionFilterSet
from .forms import RunUploadForm, TriageForm
from .models import BenchmarkSeries, Regression, RegressionStatus
from .reports import (
    baseline_comparison_build,
    baseline_comparison_csv,
    comparison_build,
    comparison_csv,
    comparison_markdown,
)
from .services import baseline_pin, baseline_unpin, regression_triage
from .uploads import benchmark_run_upload

PAGE_SIZE = 50
MANAGE_PERMISSION = "benchmarks.triage_regression"  # support and admin: triage, pin baselines, upload


def _require_manage(request) -> None:
    if not request.user.has_perm(MANAGE_PERMISSION):
        raise PermissionDenied("Your role does not allow this (needs support or admin).")


def runs_list(request):
    filterset = BenchmarkRunFilterSet(request.GET or None, queryset=selectors.runs_list())
    runs = filterset.qs if filterset.is_bound and filterset.is_valid() else selectors.runs_list()
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "benchmarks/runs.html",
        {
            "filterset": filterset,
            "page": page,
            "query": query.urlencode(),
            "ticked": set(selection.run_ids_parse(request.GET.getlist("run")) or ()),
            "this_page": request.get_full_path(),
            "can_manage": request.user.has_perm(MANAGE_PERMISSION),
        },
    )


def _back_to_runs(request, run_ids: list[int]):
    """Back to the runs list the selection came from (its filters kept, the runs still ticked)."""
    target = urlsplit(request.GET.get("next", ""))
    if target.path != reverse("benchmarks:runs") or target.netloc:
        target = urlsplit(reverse("benchmarks:runs"))
    query = [(key, value) for key, value in parse_qsl(target.query) if key != "run"]
    query += [("run", str(run_id)) for run_id in run_ids]
    return redirect(f"{target.path}?{urlencode(query)}" if query else target.path)


def compare_runs(request):
    """The runs ticked on the runs list: two go to the a-vs-b report, N of one series against its baseline."""
    run_ids = selection.run_ids_parse(request.GET.getlist("run"))
    if run_ids is None:
        return HttpResponseBadRequest("run= takes run ids.")
    mode = request.GET.get("mode", selection.PAIR)
    checked = selection.selection_check(mode=mode, requested=run_ids, runs=selectors.runs_get(run_ids=run_ids))
    if checked.error:
        messages.error(request, checked.error)
        return _back_to_runs(request, run_ids)
    if mode == selection.PAIR:
        candidate, reference = checked.runs
        return redirect(f"{reverse('benchmarks:compare')}?{urlencode({'a': candidate.id, 'b': reference.id})}")
    comparison = baseline_comparison_build(runs=list(checked.runs), baseline=checked.baseline)
    if request.GET.get("format") == "csv":
        response = HttpResponse(baseline_comparison_csv(comparison), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="compare-baseline-{checked.baseline.id}.csv"'
        return response
    query = urlencode([("mode", selection.BASELINE), *(("run", run.id) for run in checked.runs)])
    return render(request, "benchmarks/compare_baseline.html", {"comparison": comparison, "query": query})


def run_detail(request, run_id: int):
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("No such run")
    ops = list(run.ops.all())
    return render(
        request,
        "benchmarks/run.html",
        {
            "run": run,
            "ops": ops,
            "artifact": selectors.artifact_meta_get(run_id=run.id),
            "previous": selectors.series_previous_run(run=run),
            "latency_chart": charts.latency_distribution_chart(run=run),
            "ops_chart": charts.ops_by_time_chart(ops=ops, chart_id="ops-by-time"),
            "delegate_chart": charts.delegate_share_chart(ops=ops, chart_id="ops-by-delegate"),
            "fallback_ops": [op for op in ops if not op.accelerated],
            "is_baseline": run.series.baseline_run_id == run.id,
            "can_manage": request.user.has_perm(MANAGE_PERMISSION),
        },
    )


def artifact_download(request, run_id: int):
    artifact = selectors.artifact_meta_get(run_id=run_id)
    if artifact is None:
        raise Http404("This run has no stored artifact")
    chunks = selectors.artifact_chunks(artifact_id=artifact.pk, size=artifact.size_bytes)
    response = StreamingHttpResponse(chunks, content_type=artifact.content_type)
    response["Content-Length"] = str(artifact.size_bytes)
    response["ETag"] = f'"{artifact.sha256}"'
    response["Content-Disposition"] = f'attachment; filename="{artifact.filename.replace(chr(34), "")}"'
    return response


@require_POST
def baseline_toggle(request, run_id: int):
    _require_manage(request)
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("No such run")
    if request.POST.get("action") == "unpin":
        baseline_unpin(series=run.series)
        messages.success(request, "Baseline cleared for this series.")
    else:
        baseline_pin(run=run, user=request.user)
        messages.success(request, f"Run {run.id} is now the golden baseline of its series.")
    return redirect("benchmarks:run", run_id=run.id)


def _compare_reference(a):
    series: BenchmarkSeries = a.series
    if series.baseline_run_id and series.baseline_run_id != a.id:
        return series.baseline_run_id
    previous = selectors.series_previous_run(run=a)
    return previous.id if previous else None


def compare(request):
    try:
        a_id = int(request.GET["a"])
        b_id = int(request.GET["b"]) if request.GET.get("b") else None
    except (KeyError, ValueError):
        return HttpResponseBadRequest("Give ?a=<run id> (and optionally &b=<run id>).")
    a = selectors.run_get(run_id=a_id)
    if a is None:
        raise Http404("No such run a")
    b_id = b_id or _compare_reference(a)
    b = selectors.run_get(run_id=b_id) if b_id else None
    if b is None:
        raise Http404("No run b to compare with: give &b=, or pin a baseline for this series")
    comparison = comparison_build(a=a, b=b)
    export = request.GET.get("format")
    if export == "md":
        response = HttpResponse(comparison_markdown(comparison), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="compare-{a.id}-vs-{b.id}.md"'
        return response
    if export == "csv":
        response = HttpResponse(comparison_csv(comparison), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="compare-{a.id}-vs-{b.id}.csv"'
        return response
    tradeoff, front = charts.tradeoff_chart(variants=selectors.model_variants_latest(run=a), highlight_ids={a.id, b.id})
    return render(
        request,
        "benchmarks/compare.html",
        {
            "comparison": comparison,
            "a": a,
            "b": b,
            "tradeoff_chart": tradeoff,
            "pareto_front": front,
            "b_is_baseline": a.series.baseline_run_id == b.id,
        },
    )


def regressions(request):
    params = request.GET.copy()
    if "status" not in params:
        params.setlist("status", [RegressionStatus.OPEN])
    filterset = RegressionFilterSet(params, queryset=selectors.regressions_list())
    rows = filterset.qs if filterset.is_valid() else selectors.regressions_list().none()
    rows = field_impact.regressions_with_impact(rows)
    # Impact first wherever an app supplies it (the page is where the lab decides what to fix first); the API keeps
    # newest first by default for the tooling built against it, `?order=impact` there.
    by_impact = field_impact.impact_known() and request.GET.get("order") != field_impact.NEWEST_ORDER
    if by_impact:
        rows = field_impact.regressions_by_impact(rows)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    regressions_on_page = list(page.object_list)
    trends = selectors.open_series_trends(regressions=regressions_on_page)
    baselines = selectors.series_baselines(series_ids=[trend.series.id for trend in trends])
    query = params.copy()
    query.pop("page", None)
    return render(
        request,
        "benchmarks/regressions.html",
        {
            "filterset": filterset,
            "page": page,
            "regressions": regressions_on_page,
            "trend_charts": [charts.trend_chart(trend=t, baseline=baselines.get(t.series.id)) for t in trends],
            "statuses": RegressionStatus.choices,
            "can_triage": request.user.has_perm(MANAGE_PERMISSION),
            "query": query.urlencode(),
            "impact_known": field_impact.impact_known(),
            "by_impact": by_impact,
        },
    )


@require_POST
def regression_triage_view(request, regression_id: int):
    _require_manage(request)
    regression = get_object_or_404(Regression, id=regression_id)
    form = TriageForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown status")
    regression_triage(regression=regression, status=form.cleaned_data["status"], user=request.user)
    messages.success(request, f"Regression {regression.id} marked {regression.get_status_display().lower()}.")
    return redirect_back(request, "benchmarks:regressions")


def run_upload(request):
    """Upload page: one run per file; with `Accept: application/json` (static/js/upload.js) it answers in JSON."""
    _require_manage(request)
    form = RunUploadForm(request.POST or None, request.FILES or None)
    outcomes = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        outcomes = [
            benchmark_run_upload(
                identity=form.identity(),
                filename=upload.name,
                data=upload.read(),
                content_type=upload.content_type or "",
                source_format=data["format"],
                register_versions=data["register_versions"],
                confirmed=data["register_confirmed"] if data["register_versions"] else None,
            )
            for upload in data["artifacts"]
        ]
    failed = request.method == "POST" and (not form.is_valid() or any(outcome.run is None for outcome in outcomes))
    status = 400 if failed else 200
    if "application/json" in request.headers.get("Accept", ""):
        # The page's script reads "ok" per file; a 200 keeps refused files out of the browser console as errors.
        return JsonResponse(
            {
                "ok": not failed,
                "form_errors": form.errors.get_json_data(),
                "results": [outcome.as_dict() for outcome in outcomes],
            }
        )
    to_register = sorted({row for outcome in outcomes if outcome.run is None for row in outcome.to_register})
    context = {"form": form, "outcomes": outcomes, "to_register": to_register, "catalog": selectors.upload_catalog()}
    return render(request, "benchmarks/upload.html", context, status=status)
