"""GET /metrics: parsed with prometheus_client's own parser; figures equal what was ingested."""

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from protocols.metrics_counters import COUNTERS_KEY, _client
from telemetry.models import Alert, AlertRule
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry.ingest_factories import batch, crash, now, post, session

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture(autouse=True)
def counters_reset():
    _client().delete(COUNTERS_KEY)


@pytest.fixture
def fleet(client, ingest_key, catalog):
    """Pixel 8 on the GPU: 3 sessions (one crashed); Pixel 8 on the CPU: 2; Galaxy A54 on the GPU: 1."""
    raw_key = ingest_key[1]
    first = session(at=now() - timedelta(hours=2))
    post(client, raw_key, batch([first, session(at=now() - timedelta(hours=2)), session(at=now() - timedelta(hours=3)),
                                 crash(session_id=first["session_id"], at=now() - timedelta(hours=2))]))  # fmt: skip
    post(client, raw_key, batch([session(delegate="cpu", at=now() - timedelta(hours=2)) for _ in range(2)]))
    post(
        client, raw_key, batch([session(at=now() - timedelta(hours=2))], uid="a54-1", device_model="samsung-galaxy-a54")
    )
    rollup_range_compute(start=now() - timedelta(hours=5), end=now())
    return raw_key


def scrape(client, raw_key=None, **extra) -> dict[str, list]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if raw_key else {}
    response = client.get("/metrics", **headers, **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


@pytest.fixture
def read_key(make_api_key):
    return make_api_key(scopes=["read"], name="prometheus")[1]


def _by(samples, **labels):
    return {s.labels.get("device_model"): s.value for s in samples if all(s.labels[k] == v for k, v in labels.items())}


def test_cohort_kpis_equal_what_was_ingested(client, fleet, read_key):
    families = scrape(client, read_key)

    sessions = families["edgeportal_cohort_sessions"]
    assert _by(sessions, delegate="gpu") == {"google-pixel-8": 3, "samsung-galaxy-a54": 1}
    assert _by(sessions, delegate="cpu") == {"google-pixel-8": 2}
    assert _by(families["edgeportal_cohort_crash_free_sessions_ratio"], delegate="gpu")[
        "google-pixel-8"
    ] == pytest.approx(2 / 3)
    assert families["edgeportal_fleet_sessions"][0].value == 6
    assert families["edgeportal_fleet_devices"][0].value == 2
    p95 = _by(families["edgeportal_cohort_latency_p95_seconds"], delegate="cpu")["google-pixel-8"]
    assert p95 == pytest.approx(0.0145, rel=0.01)  # exact p95 of the factory samples (10.0-14.75 ms): 14.5 ms


def test_cohorts_past_the_top_n_are_summed_into_one_other_series(client, fleet, read_key, settings):
    settings.METRICS_TOP_COHORTS = 1

    sessions = scrape(client, read_key)["edgeportal_cohort_sessions"]

    assert [(s.labels["device_model"], s.value) for s in sessions] == [("google-pixel-8", 3), ("_other", 3)]


def test_ingest_counters_by_transport_outcome_and_reason(client, fleet, read_key, ingest_key):
    post(client, ingest_key[1], batch([session(runtime="no-such-runtime"), session(inferences=-1)]))
    post(client, ingest_key[1], b"not json")

    samples = scrape(client, read_key)["edgeportal_ingest_events"]

    counts = {(s.labels["transport"], s.labels["outcome"], s.labels["reason"]): s.value for s in samples}
    assert counts[("http", "accepted", "")] == 7
    assert counts[("http", "rejected", "runtime")] == 1 and counts[("http", "rejected", "inferences")] == 1
    assert counts[("http", "rejected", "http_400")] == 1


def test_pipeline_gauges_read_the_database(client, fleet, read_key, catalog):
    rule = AlertRule.objects.create(name="p95", kpi="p95_latency_ms", threshold=10)
    Alert.objects.create(rule=rule, cohort_key="x", cohort_label="x", value=20, threshold=10)

    families = scrape(client, read_key)

    assert families["edgeportal_alerts_open"][0].value == 1
    assert families["edgeportal_rollup_dirty_hours"][0].value == 0
    assert families["edgeportal_celery_queue_depth"][0].value >= 0


@pytest.mark.parametrize("scopes, status", [(None, 401), (["ingest"], 403)])
def test_scrape_needs_a_read_key(client, make_api_key, scopes, status):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {make_api_key(scopes=scopes)[1]}"} if scopes else {}

    assert client.get("/metrics", **headers).status_code == status


def test_an_allow_listed_address_scrapes_without_a_key(client, settings, catalog):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 401
