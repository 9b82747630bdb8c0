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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pause_never_waits_on_an_evaluation_reading_its_arms_and_wins_over_its_stale_verdict(monkeypatch):
    """The evaluation reads the arms without the rollout's row lock: a user's pause meanwhile goes through at
    once, and the verdict computed for the running stage is dropped instead of acting on a paused rollout."""
    from rollouts import evaluation
    from rollouts.verdict import Decision, Verdict

    from .factories import catalog_make

    catalog_make()
    rollout = rollout_create(data=rollout_body(), actor=Actor(name="a"))
    rollout_start(rollout_id=rollout.pk, actor=Actor(name="a"))
    reading, paused = threading.Event(), threading.Event()

    def slow_verdict(*, rollout, now):
        reading.set()
        assert paused.wait(timeout=30), "the pause waited on the evaluation"
        return Verdict(Decision.FAIL, ["guardrail failed: planted"], []), {}

    monkeypatch.setattr(evaluation, "rollout_verdict", slow_verdict)
    outcome = []

    def evaluate() -> None:
        try:
            outcome.append(evaluation.rollout_evaluate(rollout_id=rollout.pk).status)
        finally:
            connection.close()

    thread = threading.Thread(target=evaluate)
    thread.start()
    assert reading.wait(timeout=30)
    from rollouts.services import rollout_pause

    rollout_pause(rollout_id=rollout.pk, actor=Actor(name="release manager"), reason="looks odd")  # no wait
    paused.set()
    thread.join(timeout=60)
    assert outcome == ["paused"]
    actions = list(RolloutDecision.objects.filter(rollout=rollout).order_by("at", "id").values_list("action", "actor"))
    assert actions[-1] == ("pause", "release manager") and not any(a == "rollback" for a, _ in actions)
    assert Rollout.objects.get(pk=rollout.pk).verdict in (None, {})  # the stale verdict was not stored
