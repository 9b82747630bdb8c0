"""The bounded multi-node rehearsal (perf/scale_rehearsal.py): two web nodes behind haproxy, two Celery workers, a
primary and its streaming standby; a web node, a worker and the primary fail during an SDK load, and nothing is lost.

The script starts its own PostgreSQL primary and standby, Redis and haproxy on free loopback ports (the suites'
services are never touched), so this test needs their binaries rather than the test database; it runs ~60–90 s.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REQUIRE_SERVICES, ROOT
from tests.integration.test_chaos import _missing_binaries

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]


@pytest.fixture(scope="module")
def rehearsal() -> dict:
    reason = _missing_binaries() or (None if shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy") else
                                     "needs haproxy (apt-get install -y haproxy)")  # fmt: skip
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"EDGEPORTAL_REQUIRE_SERVICES=1 but the rehearsal {reason}")
        pytest.skip(reason)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DATABASE_REPLICA_URL")}
    command = [sys.executable, str(ROOT / "perf" / "scale_rehearsal.py"), "--duration", "20", "--phase-seconds", "4",
               "--clients", "2", "--timeout", "300"]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=330)
    output = run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("REHEARSAL_JSON ")]
    assert lines, output
    return {"rc": run.returncode, "output": output, **json.loads(lines[-1].removeprefix("REHEARSAL_JSON "))}


def test_every_check_passes_and_the_script_says_so(rehearsal):
    assert rehearsal["checks_failed"] == [], rehearsal["output"]
    assert rehearsal["rc"] == 0, rehearsal["output"]
    assert "REHEARSAL OK" in rehearsal["output"]


def test_nothing_lost_nothing_duplicated_through_the_faults(rehearsal):
    assert rehearsal["sent"] > 0
    assert rehearsal["lost"] == 0 and rehearsal["duplicated"] == 0, rehearsal["output"]
    assert rehearsal["sent"] == rehearsal["acknowledged"] == rehearsal["stored"], rehearsal["output"]
    assert "500" not in rehearsal["answers"], rehearsal["output"]


def test_rollup_totals_equal_the_raw_counts(rehearsal):
    assert rehearsal["raw_sessions"] + rehearsal["raw_crashes"] == rehearsal["stored"]
    assert rehearsal["rollup_sessions"] == rehearsal["raw_sessions"], rehearsal["output"]
    assert rehearsal["rollup_crashes"] == rehearsal["raw_crashes"], rehearsal["output"]


def test_both_web_nodes_served_and_the_one_node_phase_used_one(rehearsal):
    assert all(count > 0 for count in rehearsal["two_nodes"]["requests_by_node"].values()), rehearsal["output"]
    assert rehearsal["one_node"]["requests_by_node"]["node2"] == 0, rehearsal["output"]
    assert rehearsal["one_node"]["events_per_s"] > 0 and rehearsal["two_over_one"] > 0


def test_the_killed_node_worker_and_primary_came_back(rehearsal):
    faults = rehearsal["faults"]
    assert faults["node2_served_while_node1_down"] > 0, rehearsal["output"]
    assert faults["node1_served_after_restart"] > 0, rehearsal["output"]
    assert rehearsal["workers"]["worker1@stack"]["pid"] == faults["worker1_pid"], rehearsal["output"]
    assert faults["accepted_after_primary_restart"] > 0, rehearsal["output"]


def test_the_replica_streamed_through_the_primary_restart(rehearsal):
    replica = rehearsal["replica"]
    assert replica["rows_replica"] == replica["rows_primary"] == rehearsal["raw_sessions"], rehearsal["output"]
    assert replica["lag_samples"] > 0 and replica["readyz_replica_status"].get("ok", 0) > 0, rehearsal["output"]
