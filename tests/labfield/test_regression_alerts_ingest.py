"""The issue's planted case end to end: sessions posted through the ingest API, rolled up as production does."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.services import api_key_create
from edgeportal_client.events import session_event
from telemetry.alerts.evaluation import alerts_evaluate
from telemetry.models import AlertKpi
from telemetry.rollups.compute import rollup_hours_close
from telemetry.tasks import rollups_deferred
from tests.telemetry.fleet_factories import catalog_make

from .conftest import Planted, lab_run, regression_on

pytestmark = pytest.mark.django_db


def test_120_device_cell_ranks_above_the_cell_with_none(read_client, client, viewer_user):
    c = catalog_make()
    p = Planted(c=c)
    p.cells = {"crowd": (c.v1, c.tflite_216, c.gpu, c.galaxy), "none": (c.v2, c.tflite_216, c.cpu, c.galaxy)}
    _, raw_key = api_key_create(name="fleet", scopes=["ingest"])
    started = timezone.now() - timedelta(days=1)
    with rollups_deferred():
        for i in range(120):
            event = session_event(model="yolov8n", model_version=c.v1.version, runtime="tflite", runtime_version="2.16.1",
                                  delegate="gpu", session_id=uuid.uuid4(), started_at=started, duration_s=60.0,
                                  inferences=10, errors=0, latencies_ms=[12.0] * 5)  # fmt: skip
            body = {"device": {"uid": f"galaxy-{i}", "model": c.galaxy.slug, "os_version": "Android 15",
                               "app_version": "1.0"}, "events": [event]}  # fmt: skip
            response = Client().post("/api/v1/ingest/", json.dumps(body), content_type="application/json",
                                     HTTP_AUTHORIZATION=f"Bearer {raw_key}")  # fmt: skip
            assert response.status_code in (200, 202), response.content
    rollup_hours_close()
    crowd = regression_on(p, "crowd", run=lab_run(p, "crowd", p50=8.0, p95=12.0, days_ago=1))
    none = regression_on(p, "none", run=lab_run(p, "none", p50=8.0, p95=12.0, days_ago=1))
    alerts_evaluate()
    rows = [r for r in read_client.get("/api/v1/telemetry/alerts/").json()["results"]
            if r["kpi"] == AlertKpi.LAB_REGRESSION]  # fmt: skip
    assert [r["cohort_key"] for r in rows] == [f"regression:{crowd.pk}", f"regression:{none.pk}"]
    # Brute force from the raw inputs: 120 devices, 120 sessions over 7 days, the whole fleet.
    assert rows[0]["field_population"] == {"in_field": True, "active_devices": 120,
                                           "sessions_per_day": pytest.approx(120 / 7), "fleet_share": 1.0}  # fmt: skip
    assert rows[1]["field_population"]["in_field"] is False
    client.force_login(viewer_user)
    html = client.get("/fleet/alerts/").content.decode()
    table = html[html.index("<tbody>") :]
    assert table.index("120 active devices") < table.index("no field population")
