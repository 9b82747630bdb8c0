"""Runs the fleet simulator through the real HTTP stack (remote URL or a local WSGI server) and seeds the demo."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from core.local_server import local_wsgi_server
from core.progress import no_progress
from edgeportal_client import EdgePortalClient

from .kpi.buckets import hour_floor, hours_between
from .rollups.compute import rollup_hours_close, rollup_hours_compute
from .rollups.evidence import field_evidence_push
from .simulator import SimulationPlan, catalog_snapshot, device_batches, fleet_plan
from .tasks import rollups_deferred

logger = logging.getLogger(__name__)
DEVICES_PER_KEY = 100  # keeps each temporary key well under the ingest rate limit


@contextlib.contextmanager
def _temporary_ingest_keys(count: int) -> Iterator[list[str]]:
    from core.models import ApiKey
    from core.services import api_key_create

    created = [api_key_create(name=f"simulate_fleet {i}", scopes=["ingest"], fleet="simulated") for i in range(count)]
    try:
        yield [raw for _, raw in created]
    finally:
        ApiKey.objects.filter(pk__in=[key.pk for key, _ in created]).delete()


@dataclass
class SimulationReport:
    """What a simulation posted and where its bad cohorts are."""

    plan: SimulationPlan
    posted: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    post_seconds: float = 0.0
    rollup_seconds: float = 0.0
    rollup_hours: int = 0

    def summary(self) -> str:
        plan = self.plan
        return (
            f"{len(plan.devices)} devices, {plan.counts['sessions']} sessions, {plan.counts['crashes']} crashes: "
            f"accepted {self.accepted}, duplicates {self.duplicates}, rejected {self.rejected} in "
            f"{self.post_seconds:.1f} s; rollups {self.rollup_hours} h in {self.rollup_seconds:.1f} s. Bad cohorts: "
            f"GPU fallback on {plan.fallback_device_model} after {plan.fallback_os_version}; crash spike on "
            f"{plan.crash_soc!r}; slow {plan.slow_model} {plan.slow_model_version}"
        )


def fleet_simulate(
    *,
    devices: int,
    days: float,
    seed: int = 1,
    base_url: str | None = None,
    api_key: str | None = None,
    end: datetime | None = None,
    rollup: bool | None = None,
    progress=no_progress,
) -> SimulationReport:
    """Posts a simulated fleet over [end - days, end) through HTTP with the SDK client, then rolls the range up.

    Without base_url a local WSGI server in a thread serves this process's Django app with temporary ingest keys,
    and rollups run here once at the end (ingest only marks hours dirty meanwhile). With base_url, api_key is
    required and the server's own workers roll up (rollup=True forces a local rollup on a shared database).
    progress(label, total, unit) -> a bar with advance()/finish(), for the devices posted and the days rolled up.
    """
    end = hour_floor(end or datetime.now(UTC))
    start = end - timedelta(days=days)
    plan = fleet_plan(devices=devices, start=start, end=end, seed=seed, catalog=catalog_snapshot())
    report = SimulationReport(plan=plan)
    rng = np.random.default_rng(seed + 1)
    began = time.monotonic()
    if base_url:
        if not api_key:
            raise ValueError("--base-url needs an ingest API key (--api-key or EDGEPORTAL_API_KEY)")
        _post_all(plan, report, rng, base_url, [api_key], progress)
    else:
        with (
            local_wsgi_server(name="simulate-fleet-wsgi") as url,
            _temporary_ingest_keys(max(1, -(-devices // DEVICES_PER_KEY))) as keys,
        ):
            with rollups_deferred():
                _post_all(plan, report, rng, url, keys, progress)
    report.post_seconds = time.monotonic() - began
    if rollup if rollup is not None else not base_url:
        began = time.monotonic()
        report.rollup_hours = _rollup_by_day(start=start, end=end, progress=progress)
        report.rollup_hours += len(rollup_hours_close(now=end).hours)  # hours a clock shift moved events into
        report.rollup_seconds = time.monotonic() - began
    return report


def _rollup_by_day(*, start: datetime, end: datetime, progress) -> int:
    """Rolls [start, end) up one UTC day at a time (each day computed once), then pushes field evidence once."""
    began = datetime.now(UTC)
    days: dict = {}
    for hour in hours_between(start, end):
        days.setdefault(hour.date(), []).append(hour)
    bar = progress("rollups", len(days), "days")
    rolled, cells = 0, set()
    for hours in days.values():
        result = rollup_hours_compute(hours=hours, push_evidence=False)
        rolled += len(result.hours)
        cells |= result.cells
        bar.advance()
    field_evidence_push(cells=cells, now=began)
    bar.finish()
    return rolled


def _post_all(plan: SimulationPlan, report: SimulationReport, rng, url: str, keys: list[str], progress) -> None:
    bar = progress("devices posting", len(plan.devices), "devices")
    for index, device in enumerate(plan.devices):
        for envelope, events in device_batches(plan=plan, device=device, rng=rng):
            with EdgePortalClient(url, keys[index // DEVICES_PER_KEY % len(keys)], envelope, batch_size=1000) as client:
                for event in events:
                    client.record(event)
                result = client.flush()
            report.posted += result.sent
            report.accepted += result.accepted
            report.duplicates += result.duplicates
            report.rejected += len(result.rejected)
            if result.last_error:
                report.errors.append(f"{device.uid}: {result.last_error}")
            if result.rejected and len(report.errors) < 20:
                report.errors.append(f"{device.uid}: rejected {result.rejected[0]}")
        bar.advance()
    bar.finish()


DEMO_FLEETS = {"small": (40, 3), "standard": (120, 7), "full": (300, 14)}  # devices, days


def step(*, size: str, stdout, progress) -> None:
    """Fleet telemetry: simulated devices posting through the real HTTP ingest API, then hourly/daily rollups."""
    devices, days = DEMO_FLEETS[size]
    report = fleet_simulate(devices=devices, days=days, seed=7, progress=progress)
    stdout.write(f"   {report.summary()}")
    for error in report.errors[:5]:
        stdout.write(f"   ! {error}")
