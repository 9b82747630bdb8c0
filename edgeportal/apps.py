from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The project itself: settings, URLs, the KPI home, the demo seed and ops tasks. Holds no models."""

    name = "edgeportal"
    label = "portal"
    verbose_name = "EdgePortal site"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .middleware import session_clock_start

        user_logged_in.connect(session_clock_start, dispatch_uid="edgeportal.session_clock_start")
