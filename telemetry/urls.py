from django.urls import path

from .alerts import views as alert_views
from .fleet import views as fleet_views
from .fleet.release_health import ReleaseHealthRows
from .support import views as support_views

app_name = "fleet"


def fleet_patterns(
    *, chart_events: fleet_views.ChartEvents | None = None, release_health: ReleaseHealthRows | None = None
) -> list:
    """The fleet pages; the project passes `chart_events` for the time charts and `release_health` for the app
    sessions beside the crash-free KPI (telemetry knows no app above it)."""
    options = {"chart_events": chart_events, "release_health": release_health}
    return [
        path("", fleet_views.fleet_health, options, name="health"),
        path("compare/", fleet_views.release_compare, name="compare"),
        path("devices/", support_views.device_search, name="devices"),
        path("alerts/", alert_views.alert_list, name="alerts"),
        # `path`, not `str`: uids stored before ingest restricted them (API.md) may hold a '/'; their pages still route.
        path(
            "devices/<path:uid>/timeline.<str:fmt>", support_views.device_timeline_export, name="device-timeline-export"
        ),
        path("devices/<path:uid>/", support_views.device_detail, name="device"),
    ]


urlpatterns = fleet_patterns()
