"""KPI building blocks for the pages: time series, breakdowns, cohorts missing targets, adoption, ingest → rollup."""

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.kpi.selectors import (
    adoption_timeseries,
    cohorts_missing_targets,
    kpi_breakdown,
    kpi_timeseries,
    kpis_get,
)
from telemetry.models import HourlyRollup
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry import ingest_factories
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import session_make

DAY = datetime(2026, 11, 12, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("retention_unbounded")  # the dates above are fixed


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def fleet(c):
    """Pixel on v1 with GPU at full speed; Galaxy on v2 falling back to CPU (accelerated 0.3, slow)."""
    pixels = [device_make(c) for _ in range(3)]
    galaxies = [device_make(c, device_model=c.galaxy) for _ in range(2)]
    for day in range(2):
        for hour in range(24):
            at = DAY + timedelta(days=day, hours=hour, minutes=5)
            for device in pixels:
                session_make(c, device=device, at=at, samples=[8.0, 9.0, 10.0, 12.0], accelerated=0.97)
            for device in galaxies:
                version = c.v2 if day == 1 else c.v1
                session_make(c, device=device, at=at, samples=[150.0, 160.0, 170.0, 400.0], accelerated=0.3,
                             model_version=version)  # fmt: skip
    rollup_range_compute(start=DAY, end=DAY + timedelta(days=2))


def test_timeseries_by_day_and_hour_add_up_to_the_range(fleet):
    total = kpis_get(start=DAY, end=DAY + timedelta(days=2), filters={})
    daily = kpi_timeseries(start=DAY, end=DAY + timedelta(days=2), filters={}, bucket="day")
    assert [k.start for k in daily] == [DAY, DAY + timedelta(days=1)]
    assert sum(k.sessions for k in daily) == total.sessions == 2 * 24 * 5
    assert [k.devices for k in daily] == [5, 5]
    hourly = kpi_timeseries(
        start=DAY, end=DAY + timedelta(hours=6), filters={"device_model": "google-pixel-8"}, bucket="hour"
    )
    assert [k.sessions for k in hourly] == [3] * 6


def test_breakdown_by_device_model_merges_histograms_per_group(fleet):
    rows = dict(kpi_breakdown(start=DAY, end=DAY + timedelta(days=2), filters={}, dimension="device_model"))
    assert set(rows) == {"google-pixel-8", "samsung-galaxy-a54"}
    assert rows["google-pixel-8"].p95_latency_ms == pytest.approx(12.0, rel=0.01)
    assert rows["samsung-galaxy-a54"].accelerator_utilization == pytest.approx(0.3)
    assert rows["samsung-galaxy-a54"].devices == 2
    versions = dict(kpi_breakdown(start=DAY, end=DAY + timedelta(days=2), filters={}, dimension="model_version"))
    assert set(versions) == {"yolov8n 1.4.0", "yolov8n 1.5.0"}


def test_cohorts_missing_targets_names_the_missed_kpis(fleet):
    missing = cohorts_missing_targets(start=DAY, end=DAY + timedelta(days=2), filters={})
    assert {(m["device_model"].slug, m["model_version"].version) for m in missing} == {
        ("samsung-galaxy-a54", "1.4.0"),
        ("samsung-galaxy-a54", "1.5.0"),
    }
    assert set(missing[0]["misses"]) == {"p95_latency_ms", "accelerator_utilization"}
    # Devices are counted for the missing cohorts only, and equal the full breakdown's exact counts.
    full = dict(kpi_breakdown(start=DAY, end=DAY + timedelta(days=2), filters={}, dimension="cohort"))
    for m in missing:
        cohort = (m["device_model"].pk, m["model_version"].pk, m["runtime_version"].pk, m["delegate"].pk)
        assert m["kpis"].devices == full[cohort].devices > 0


def test_adoption_is_the_share_of_active_devices_per_model_version(fleet):
    rows = adoption_timeseries(start=DAY, end=DAY + timedelta(days=2), filters={})
    by_day = {(r["day"], r["model_version"]): r["share"] for r in rows}
    assert by_day[(DAY.date(), "yolov8n 1.4.0")] == 1.0
    second = (DAY + timedelta(days=1)).date()
    assert by_day[(second, "yolov8n 1.4.0")] == pytest.approx(3 / 5)
    assert by_day[(second, "yolov8n 1.5.0")] == pytest.approx(2 / 5)


def test_kpis_get_is_a_bounded_number_of_queries(fleet, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        kpis_get(start=DAY + timedelta(hours=5), end=DAY + timedelta(days=1, hours=7), filters={"tier": 1})


def test_ingest_over_http_queues_the_rollup_of_the_touched_hours(
    c, api_client, ingest_key, django_capture_on_commit_callbacks
):
    _, raw_key = ingest_key
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    at = datetime.now(UTC) - timedelta(hours=2)
    events = [ingest_factories.session(at=at), ingest_factories.session(at=at - timedelta(days=1))]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(ingest_factories.INGEST_URL, ingest_factories.batch(events), format="json")
    assert response.status_code == 202, response.content
    assert sorted(HourlyRollup.objects.values_list("sessions", flat=True)) == [1, 1]
