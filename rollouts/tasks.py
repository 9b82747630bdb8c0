"""Thin Celery tasks: the periodic guardrail evaluation of every running rollout."""

from celery import shared_task

from .evaluation import live_rollout_ids, rollout_evaluate


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def rollout_evaluate_task(rollout_id: int) -> str:
    rollout = rollout_evaluate(rollout_id=rollout_id)
    return f"rollout {rollout_id}: {rollout.status}, {(rollout.verdict or {}).get('decision')}"


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def rollouts_evaluate_task() -> int:
    """Queues one evaluation per running rollout (each locks its own row, so overlapping runs are safe)."""
    ids = live_rollout_ids()
    for rollout_id in ids:
        rollout_evaluate_task.delay(rollout_id)
    return len(ids)
