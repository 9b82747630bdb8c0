"""labfield's periodic work, thin: the delegate-fallback drift as compat evidence (edgeportal/celery.py schedules it)."""

from celery import shared_task

from .services import drift_evidence_record


@shared_task(acks_late=True, time_limit=600, soft_time_limit=540)
def drift_evidence_task() -> dict:
    return drift_evidence_record()
