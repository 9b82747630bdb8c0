from django.urls import path

from .fleet import views as fleet_views
from .support import views as support_views

app_name = "fleet"


def fleet_patterns(*, chart_events: fleet_views.ChartEvents | None = None) -> list:
    """The fleet pages; the project passes `chart_events` for the time charts (telemetry knows no app above it)."""
    return [
        path("", fleet_views.fleet_health, {"chart_events": chart_events}, name="health"),
        path("compare/", fleet_views.release_compare, name="compare"),
        path("devices/", support_views.device_search, name="devices"),
        # `path`, not `str`: uids stored before ingest restricted them (API.md) may hold a '/'; their pages still route.
        path("devices/<path:uid>/", support_views.device_detail, name="device"),
    ]


urlpatterns = fleet_patterns()
