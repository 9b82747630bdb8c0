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


@shared_task(
    acks_late=True, time_limit=60, soft_time_limit=50, autoretry_for=(OSError,), retry_backoff=True, max_retries=3
)
def password_reset_mail_send(*, email: str, domain: str, use_https: bool) -> None:
    """Looks the address up and mails a reset link if an active account has it; off the request's timing."""
    from django.contrib.auth.forms import PasswordResetForm

    form = PasswordResetForm(data={"email": email})
    if form.is_valid():
        form.save(domain_override=domain, use_https=use_https)
