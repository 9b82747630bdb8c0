from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project itself: settings, URLs, the KPI home, the demo seed and ops tasks. Holds no models."""

    name = "edgeportal"
    label = "portal"
    verbose_name = "EdgePortal site"
