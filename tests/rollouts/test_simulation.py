"""The end-to-end simulator: through the assignment API (SDK) and HTTP ingest, the good candidate completes and the
slow, crashy one is rolled back by the guardrails with the failing device model in its decision."""

import pytest

from rollouts.models import Rollout
from rollouts.simulation import BAD_DEVICE_MODEL, rollouts_simulate


@pytest.mark.postgres  # the simulator posts through a server thread: a database both threads share
@pytest.mark.django_db(transaction=True)
def test_the_good_candidate_completes_and_the_bad_one_is_rolled_back():
    good, bad = rollouts_simulate(seed=3, devices=60, sessions_per_round=10)
    assert good.status == "completed", good.decisions
    assert [d.split(" by ")[0] for d in good.decisions] == ["create", "start", "advance", "complete"]
    assert bad.status == "rolled_back", bad.decisions
    rollback = bad.decisions[-1]
    assert rollback.startswith("rollback by guardrails") and BAD_DEVICE_MODEL in rollback
    rolled_back = Rollout.objects.get(pk=bad.rollout_id)
    failed = [r for r in rolled_back.guardrail_results if r["state"] == "fail"]
    # The failing slice is the bad phone's, or the whole arms' test names it as the driver of the regression.
    assert failed and all(BAD_DEVICE_MODEL in (r["device_model"], r["driven_by"]) for r in failed), failed
    assert not any(r["state"] == "fail" and r["device_model"] == "demo-phone-a" for r in rolled_back.guardrail_results)
