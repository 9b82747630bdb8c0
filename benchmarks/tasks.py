from celery import shared_task

from .processing import benchmark_run_process


@shared_task(
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
    time_limit=300,
    soft_time_limit=240,
)
def benchmark_run_process_task(run_id: int) -> bool:
    """Regression detection over the run's series and its compat lab evidence (claimed once per run)."""
    return benchmark_run_process(run_id=run_id)
