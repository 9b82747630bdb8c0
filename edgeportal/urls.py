from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from telemetry import urls as fleet_urls

from . import api, views
from .fleet_events import rollout_chart_events
from .fleet_release_health import release_health_rows

FLEET_COMPOSED = {"chart_events": rollout_chart_events, "release_health": release_health_rows}

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("kpis/release/<str:kpi>/", views.release_kpi, name="release-kpi"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("edgeportal.accounts")),
    path("admin/", admin.site.urls),
    path("compat/", include("compat.urls")),
    # The fleet page marks rollout events on its time charts and shows Sentry release health beside its crash-free
    # KPI: both handed in here, as telemetry cannot import rollouts or protocols.
    path("fleet/", include((fleet_urls.fleet_patterns(**FLEET_COMPOSED), "fleet"))),
    path("crashes/", include("telemetry.crash_urls")),
    path("benchmarks/", include("benchmarks.urls")),
    path("rollouts/", include("rollouts.urls")),
    path("releases/", include("readiness.urls")),
    path("lab-field/", include("labfield.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/home/", api.HomeView.as_view(), name="home-api"),
    path("api/v1/compat/", include("compat.api.urls")),
    path("api/v1/", include("telemetry.api.urls")),
    path("api/v1/benchmarks/", include("benchmarks.api.urls")),
    path("", include("protocols.urls")),
    path("api/v1/rollouts/", include("rollouts.api.urls")),
    path("api/v1/releases/", include("readiness.api.urls")),
    path("api/v1/lab-field/", include("labfield.api.urls")),
]

# JSON under /api/, the site layout elsewhere (core/errors.py).
handler400 = "core.errors.bad_request"
handler403 = "core.errors.permission_denied"
handler404 = "core.errors.page_not_found"
handler500 = "core.errors.server_error"
