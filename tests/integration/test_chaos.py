"""The bounded chaos run (perf/chaos.py): every event stored exactly once, no 500, rollups = raw, through faults.

The script starts its own PostgreSQL cluster and Redis on free ports (the suites' services are never restarted),
so this test needs their binaries rather than the test database; it runs ~50 s.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES, ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]


def _missing_binaries() -> str | None:
    has_initdb = any(Path("/usr/lib/postgresql").glob("*/bin/initdb")) or shutil.which("initdb")
    if not has_initdb:
        return "needs the PostgreSQL server binaries (initdb, pg_ctl) for a private cluster"
    if not shutil.which("redis-server"):
        return "needs redis-server for a private Redis"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "needs runuser to start PostgreSQL as the postgres user"
    return None


def test_faults_lose_nothing_duplicate_nothing_and_answer_no_500():
    reason = _missing_binaries()
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"EDGEPORTAL_REQUIRE_SERVICES=1 but the chaos test {reason}")
        pytest.skip(reason)
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DATABASE_REPLICA_URL")}
    run = subprocess.run(
        [sys.executable, str(ROOT / "perf" / "chaos.py"), "--seconds", "20", "--clients", "3"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "CHAOS OK: sent = acknowledged = stored, 0 lost, 0 duplicated, no 500, rollups = raw" in run.stdout, output
    assert "lost (sent - stored)                   0" in run.stdout, output
