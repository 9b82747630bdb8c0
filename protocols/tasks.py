from celery import shared_task

from .retention import protocol_retention_enforce


@shared_task
def protocol_retention_task() -> dict[str, int]:
    """Periodic: deletes release-health, Sentry and OTLP stream rows older than RAW_RETENTION_DAYS."""
    return protocol_retention_enforce()
