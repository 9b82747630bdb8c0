"""The oracle fleet, built once for the package: the planted inputs go through the real ingest API, then the
rollups run as the periodic task runs them. The whole build is one transaction, rolled back after the package's
last test; each test runs in a savepoint inside it (pytest-django's usual per-test transaction)."""

import json
from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.test import Client

from edgeportal_client.events import crash_event, session_event
from edgeportal_client.histogram import LatencyHistogram

from .brute import Oracle
from .plant import DELEGATE_KINDS, DEVICE_MODELS, FRAMES, MODEL, MODEL_VERSIONS, RUNTIME, RUNTIME_VERSION, fleet_plant

INGEST_URL = "/api/v1/ingest/"


def _catalog_make() -> None:
    from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, OsFamily, Runtime, RuntimeVersion

    for planted in DEVICE_MODELS.values():
        DeviceModel.objects.create(
            slug=planted.slug, vendor=planted.vendor, name=planted.name, os_family=OsFamily.ANDROID,
            tier=planted.tier, accelerators=list(planted.accelerators), memory_budget_mb=planted.memory_budget_mb,
        )  # fmt: skip
    ml_model = MLModel.objects.create(slug=MODEL, name="YOLOv8n")
    for version in MODEL_VERSIONS:
        ModelVersion.objects.create(ml_model=ml_model, version=version)
    runtime = Runtime.objects.create(slug=RUNTIME, name="TFLite")
    RuntimeVersion.objects.create(runtime=runtime, version=RUNTIME_VERSION)
    for slug, kind in DELEGATE_KINDS.items():
        Delegate.objects.create(runtime=runtime, slug=slug, name=slug.upper(), kind=kind)


def _identity(event) -> dict:
    return {"model": MODEL, "model_version": event.model_version, "runtime": RUNTIME,
            "runtime_version": RUNTIME_VERSION, "delegate": event.delegate}  # fmt: skip


def _batches(fleet) -> list[dict]:
    """One batch per device, built with the SDK's event builders, as a device that buffered its whole history."""
    batches = []
    for device in fleet.devices:
        events = [
            session_event(
                **_identity(s),
                session_id=s.session_id,
                started_at=s.started_at,
                duration_s=60.0,
                inferences=s.inferences,
                errors=s.errors,
                histogram=LatencyHistogram.from_samples(s.samples),
                accelerated_fraction=s.accelerated,
                peak_rss_mb=s.peak_rss_mb,
                thermal_state="nominal",
            )  # fmt: skip
            for s in fleet.sessions
            if s.uid == device.uid
        ]
        events += [
            crash_event(
                **_identity(c),
                session_id=c.session_id,
                occurred_at=c.occurred_at,
                kind="native",
                signal="SIGSEGV",
                message="Fatal signal 11 in gpu delegate",
                frames=FRAMES,
            )  # fmt: skip
            for c in fleet.crashes
            if c.uid == device.uid
        ]
        batches.append({
            "device": {"uid": device.uid, "model": device.device_model, "os_version": "Android 15",
                       "app_version": device.app_version, "firmware": "AP4A.250105.002"},
            "sent_at": fleet.now.isoformat().replace("+00:00", "Z"),
            "events": events,
        })  # fmt: skip
    return batches


@pytest.fixture(scope="package")
def oracle_build(django_db_setup, django_db_blocker):
    from core.services import api_key_create
    from telemetry.rollups.compute import rollup_hours_close
    from telemetry.tasks import rollups_deferred

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            _catalog_make()
            fleet = fleet_plant(datetime.now(UTC))
            _, raw_key = api_key_create(name="oracle fleet", scopes=["ingest"])
            client = Client()
            with rollups_deferred():  # ingest only marks the hours; the periodic sweep below rolls them up
                for body in _batches(fleet):
                    response = client.post(INGEST_URL, json.dumps(body), content_type="application/json",
                                           HTTP_AUTHORIZATION=f"Bearer {raw_key}")  # fmt: skip
                    assert response.status_code in (200, 202), response.content
                    result = response.json()
                    assert result["rejected"] == [] and result["accepted"] == len(body["events"]), result
            rollup_hours_close()
            evidence_now = datetime.now(UTC)
            yield fleet, evidence_now
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def oracle(oracle_build, db) -> Oracle:
    fleet, _ = oracle_build
    return Oracle(fleet)


@pytest.fixture
def evidence_now(oracle_build):
    return oracle_build[1]


@pytest.fixture
def viewer(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture(scope="package")
def _responses() -> dict:
    return {}


@pytest.fixture
def page(viewer, _responses):
    """GET a page or API read once for the package (the fleet never changes): a 200, kept for the next test."""

    def get(url: str):
        if url not in _responses:
            response = viewer.get(url)
            assert response.status_code == 200, (url, response.content[:500])
            _responses[url] = response
        return _responses[url]

    return get
