import pytest

from edgeportal.tasks import echo, heartbeat


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_task_round_trips_through_a_real_worker_process(celery_worker_process):
    result = echo.delay("over redis and back")
    assert result.get(timeout=30) == "over redis and back"
    assert heartbeat.delay().get(timeout=30) == "ok"


def test_tasks_run_in_process_without_a_worker():
    assert echo.delay("eager").get(timeout=1) == "eager"
