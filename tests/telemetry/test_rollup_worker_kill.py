"""Reliability: a worker process SIGKILLed in the middle of a rollup leaves no partial rows and no double counts."""

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from telemetry.models import DailyRollup, HourlyRollup, InferenceSession
from telemetry.rollups.hourly import PAUSE_FILE_ENV
from telemetry.tasks import rollup_hours_task
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import fleet_make

# Four hours across midnight, recent enough to be inside raw retention (older hours are never recomputed).
START = (datetime.now(UTC) - timedelta(days=3)).replace(hour=22, minute=0, second=0, microsecond=0)
NEXT_DAY = START.replace(hour=0) + timedelta(days=1)


def _wait_for(predicate, *, timeout: float = 60, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def pause_file(tmp_path, monkeypatch):
    """Makes the worker's rollup sleep inside its transaction while this file exists (set before the worker starts)."""
    path = tmp_path / "rollup-pause"
    monkeypatch.setenv(PAUSE_FILE_ENV, str(path))
    return path


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_rollup_reruns_and_totals_equal_raw_counts(pause_file, celery_worker_process):
    c = catalog_make()
    devices = [device_make(c) for _ in range(5)]
    fleet_make(c, devices=devices, start=START, hours=4)
    hours = [START + timedelta(hours=i) for i in range(4)]
    started = Path(f"{pause_file}.started")
    pause_file.touch()

    rollup_hours_task.delay(hours=[hour.isoformat() for hour in hours])
    first_pid = int(_wait_for(lambda: started.exists() and started.read_text().split(), what="rollup to pause")[0])
    assert first_pid != celery_worker_process.pid  # the pool process running the task, not the supervisor
    assert not HourlyRollup.objects.exists()  # its delete + insert are uncommitted: nothing half-done is visible

    os.kill(first_pid, signal.SIGKILL)
    pause_file.unlink()
    # acks_late + reject_on_worker_lost: the message goes back to the queue and a fresh pool process re-runs it
    _wait_for(lambda: DailyRollup.objects.filter(bucket_start=NEXT_DAY).exists(),
              what="the re-run to finish")  # fmt: skip
    # daily rows only come after every hour of the task committed: they are the re-run's, the first run died

    raw = Counter(
        (s.started_at.replace(minute=0, second=0, microsecond=0), s.device_model_id, s.model_version_id)
        for s in InferenceSession.objects.all()
    )
    rolled = Counter()
    for bucket, device_model, model_version, sessions in HourlyRollup.objects.values_list(
        "bucket_start", "device_model_id", "model_version_id", "sessions"
    ):
        rolled[(bucket, device_model, model_version)] += sessions
    assert rolled == raw
    assert sum(DailyRollup.objects.values_list("sessions", flat=True)) == InferenceSession.objects.count()
