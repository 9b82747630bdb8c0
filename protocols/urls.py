"""Routes of the protocol adapters, mounted at the site root (Sentry SDKs and OTLP exporters fix these paths)."""

from django.urls import path

from .api import ReleaseHealthView
from .otlp.views import OtlpMetricsView
from .prometheus import MetricsView
from .sentry.views import SentryEnvelopeView, SentryStoreView

urlpatterns = [
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("v1/metrics", OtlpMetricsView.as_view(), name="otlp-metrics"),
    path("api/<int:project_id>/envelope/", SentryEnvelopeView.as_view(), name="sentry-envelope"),
    path("api/<int:project_id>/store/", SentryStoreView.as_view(), name="sentry-store"),
    path("api/v1/protocols/release-health/", ReleaseHealthView.as_view(), name="release-health"),
]
