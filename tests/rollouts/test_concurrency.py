"""Two concurrent calls of one action: the row lock serializes them; one acts, the other gets its 409 (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from rollouts.models import Rollout, RolloutDecision
from rollouts.services import Actor, RolloutConflict, rollout_create, rollout_start

from .conftest import rollout_body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["start", "create"])
def test_two_concurrent_calls_act_once(action):
    from .factories import catalog_make

    catalog_make()
    existing = rollout_create(data=rollout_body(), actor=Actor(name="a")) if action == "start" else None
    barrier, outcomes = threading.Barrier(2), []

    def call(index: int) -> None:
        try:
            barrier.wait()
            if action == "start":
                rollout_start(rollout_id=existing.pk, actor=Actor(name=f"caller-{index}"))
            else:
                rollout_create(data=rollout_body(name=f"r{index}"), actor=Actor(name=f"caller-{index}"))
            outcomes.append("ok")
        except RolloutConflict:
            outcomes.append("conflict")
        except Exception as error:  # the overlap check's 400 for the second create
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if action == "start":
        assert sorted(outcomes) == ["conflict", "ok"]
        assert RolloutDecision.objects.filter(action="start").count() == 1
    else:
        assert sorted(outcomes) == ["RolloutInputError", "ok"]
        assert Rollout.objects.count() == 1
