"""The periodic alert evaluation task: thin, the work is in telemetry.alerts."""

from celery import shared_task

from . import alerts


@shared_task(acks_late=True, time_limit=300, soft_time_limit=240, ignore_result=True)
def alerts_evaluate_task() -> dict:
    """Evaluates every enabled AlertRule on the rollups and delivers pending webhooks."""
    result = alerts.alerts_evaluate()
    return {"rules": result.rules, "opened": len(result.opened), "resolved": len(result.resolved)}
