from celery import shared_task
from django.db import connection


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25)
def heartbeat() -> str:
    """Proves a worker is consuming and can reach the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


@shared_task(acks_late=True, time_limit=30, soft_time_limit=25)
def echo(value: str) -> str:
    """Round-trip probe used by tests and ops: returns what it was given, through a real worker."""
    return value
