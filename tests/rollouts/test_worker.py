"""A rollout evaluated by the real Celery worker (Redis broker, the test database): the beat task fans out one
evaluation per running rollout, and the failing one is rolled back by the worker."""

import time

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from rollouts.models import Rollout
from rollouts.tasks import rollouts_evaluate_task

from .test_evaluation import report, started


def _wait_for(predicate, *, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_rolls_back_a_regressing_rollout(celery_worker_process, roles):
    from .factories import catalog_make, devices_make

    catalog = catalog_make()
    admin = User.objects.create_user(username="admin-ada", password="x", is_staff=True)
    admin.groups.add(roles["admin"])
    client = APIClient()
    client.force_login(admin)
    fleet = devices_make(catalog, count=150) + devices_make(catalog, count=150, device_model=catalog.galaxy)
    rollout = started(client)
    report(catalog, rollout, fleet, per_device=3, bad_on=catalog.galaxy)

    assert rollouts_evaluate_task.delay().get(timeout=60) == 1  # through the broker: queued one evaluation
    _wait_for(lambda: Rollout.objects.get(pk=rollout.pk).status == "rolled_back", what="the worker's evaluation")
    rollout.refresh_from_db()
    assert rollout.verdict["decision"] == "fail"
    decision = rollout.decisions.order_by("at").last()
    assert (decision.action, decision.actor, decision.automatic) == ("rollback", "guardrails", True)
