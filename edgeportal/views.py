from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from rollouts.kpis import RELEASE_KPI_SPECS
from telemetry.kpi.scope import filter_choices, scope_parse

from . import selectors
from .release_kpis import release_kpi_rows
from .replica import replica_configured, replica_state_measure
from .search import PER_KIND, search_everything


def home(request):
    """The KPI home: counts, KPI cards, worst cohorts, crash groups, lab regressions, alerts; range/filters in the URL."""
    scope = scope_parse(request.GET, default_range="7d")
    context = {
        "counts": selectors.catalog_counts(),
        "scope": scope,
        "query_string": scope.query_string,
        **filter_choices(),
    }
    if context["counts"]["devices"] or context["counts"]["runs"]:
        context.update(
            selectors.home_dashboard_get(
                time_range=scope.time_range, filters=scope.filters, query_string=scope.query_string
            )
        )
    return render(request, "home.html", context)


def _cell(value):
    """A drill-down cell as the page prints it: links stay {href, text}; times in UTC to the minute."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return "—" if value is None else value


def release_kpi(request, kpi: str):
    """A release KPI's drill-down: the rows its home card's figure is computed from, over the same window."""
    spec = RELEASE_KPI_SPECS.get(kpi)
    if spec is None:
        raise Http404("No such release KPI.")
    scope = scope_parse(request.GET, default_range="7d")
    columns, rows, summary = release_kpi_rows(kpi=kpi, time_range=scope.time_range)
    table = [[{"value": _cell(row.get(column.key)), "numeric": column.numeric} for column in columns] for row in rows]
    context = {"spec": spec, "scope": scope, "columns": columns, "table": table, "summary": summary}
    return render(request, "release_kpi.html", context)


def placeholder(request, *, title: str, next_step: str):
    return render(request, "placeholder.html", {"title": title, "next_step": next_step})


@require_GET
@never_cache
def healthz(request):
    """Liveness: the process answers. Touches nothing else, so a slow database never restarts web workers."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not ready"; the probe reports it, never raises
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return None


def _broker_ready() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # embedded mode: tasks run in process, there is no broker to reach
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises many transport-specific errors
        return f"{type(exc).__name__}: {exc}".strip()[:200]
    return None


@require_GET
@never_cache
def readyz(request):
    """Readiness: the database and (when configured) the broker are reachable; 503 otherwise.

    With a read replica, its state and replay lag are shown too, measured now; they never make the node unready:
    a replica that is down or behind only sends the pages' reads to the primary.
    """
    checks = {"database": _database_ready(), "broker": _broker_ready()}
    ready = all(error is None for error in checks.values())
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": {name: ("ok" if error is None else error) for name, error in checks.items()},
    }
    if replica_configured():
        body["replica"] = replica_state_measure().as_json()
    return JsonResponse(body, status=200 if ready else 503)


def search(request):
    """The header search box's page: a bounded list per kind, each with a link to its full, filtered list."""
    q = request.GET.get("q", "").strip()
    return render(request, "search.html", {"q": q, "hits": search_everything(q=q), "per_kind": PER_KIND})
