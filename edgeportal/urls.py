from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("compat/", include("compat.urls")),
    path("fleet/", include("telemetry.urls")),
    path("crashes/", include("telemetry.crash_urls")),
    path("benchmarks/", include("benchmarks.urls")),
    path("rollouts/", include("rollouts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("core.api.urls")),
    path("api/v1/compat/", include("compat.api.urls")),
    path("api/v1/", include("telemetry.api.urls")),
    path("api/v1/benchmarks/", include("benchmarks.api.urls")),
    path("api/v1/rollouts/", include("rollouts.api.urls")),
]
