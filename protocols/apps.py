from django.apps import AppConfig


class ProtocolsConfig(AppConfig):
    """Adapters from other telemetry protocols (Sentry, OTLP, MQTT) into the ingest service, and /metrics out."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "protocols"
