from django.urls import path
from rest_framework.routers import DefaultRouter

from ..alerts.views import AlertListView
from .ingest_views import IngestView
from .read_views import CrashGroupViewSet, DeviceViewSet, KpisView

app_name = "telemetry-api"
router = DefaultRouter()
router.register("telemetry/devices", DeviceViewSet, basename="device")
router.register("telemetry/crash-groups", CrashGroupViewSet, basename="crashgroup")
urlpatterns = router.urls
from .triage_views import triage_urlpatterns  # noqa: E402  (triage PATCH/notes/merge, before the read router)

urlpatterns = [path("ingest/", IngestView.as_view(), name="ingest")] + triage_urlpatterns + urlpatterns
urlpatterns += [path("telemetry/kpis/", KpisView.as_view(), name="kpis")]
urlpatterns += [path("telemetry/alerts/", AlertListView.as_view(), name="alerts")]
