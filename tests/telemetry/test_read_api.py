"""Read API: KPI body exactly as API.md, 400s naming the parameter, devices and crash groups lists with pinned queries."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from telemetry.kpi.selectors import kpis_get
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry.fleet_factories import catalog_make, crash_group_make, device_make
from tests.telemetry.rollup_factories import crash_make, session_make

KPIS_URL = "/api/v1/telemetry/kpis/"
DEVICES_URL = "/api/v1/telemetry/devices/"
GROUPS_URL = "/api/v1/telemetry/crash-groups/"
START = datetime(2026, 11, 18, 22, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("retention_unbounded")  # the dates above are fixed


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def data(c):
    devices = [device_make(c) for _ in range(3)] + [device_make(c, device_model=c.galaxy, os_version="Android 14")]
    for i, device in enumerate(devices):
        for hour in range(6):
            session = session_make(
                c, device=device, at=START + timedelta(hours=hour, minutes=7 * i), samples=[10.0 + i, 20.0, 30.0 + hour],
                accelerated=0.5 if device.device_model == c.galaxy else 1.0, rss=150.0 + 10 * i,
            )  # fmt: skip
            if hour == 2 and i == 1:
                crash_make(c, session=session)
    rollup_range_compute(start=START, end=START + timedelta(hours=6))
    return devices


def test_kpis_body_has_exactly_the_api_md_shape_and_the_selector_numbers(read_client, data):
    response = read_client.get(KPIS_URL, {"from": "2026-11-18T22:00:00Z", "to": "2026-11-19T04:00:00Z"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert list(body) == [
        "from", "to", "sessions", "crashed_sessions", "crash_free_sessions", "inferences", "errors", "errors_per_1k",
        "latency_ms", "accelerator_utilization", "peak_rss_mb", "devices",
    ]  # fmt: skip
    assert list(body["latency_ms"]) == ["p50", "p95", "p99"]
    assert list(body["peak_rss_mb"]) == ["p50", "p95"]
    assert body["from"] == "2026-11-18T22:00:00Z" and body["to"] == "2026-11-19T04:00:00Z"
    assert body["sessions"] == InferenceSession.objects.count() == 24
    assert body["crashed_sessions"] == 1
    assert body["crash_free_sessions"] == pytest.approx(1 - 1 / 24)
    assert body["inferences"] == InferenceSession.objects.aggregate(n=Sum("inferences"))["n"]
    assert body["devices"] == 4
    assert body["accelerator_utilization"] == pytest.approx((3 * 1.0 + 0.5) / 4)
    assert body == kpis_get(start=START, end=START + timedelta(hours=6), filters={}).as_api()


def test_kpis_filters_use_the_api_parameter_names(read_client, data):
    response = read_client.get(
        KPIS_URL, {"from": "2026-11-18", "to": "2026-11-20", "device_model": "samsung-galaxy-a54", "delegate": "gpu"}
    )
    assert response.status_code == 200
    assert response.json()["sessions"] == 6
    assert response.json()["accelerator_utilization"] == pytest.approx(0.5)
    assert read_client.get(KPIS_URL, {"from": "2026-11-18", "os_version": "Android 14"}).json()["devices"] == 1


@pytest.mark.parametrize(
    "params, bad",
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"from": "2026-11-20", "to": "2026-11-19"}, "from"),
        ({"device_model": "nokia-3310"}, "device_model"),
        ({"model": "gpt-9"}, "model"),
        ({"runtime_version": "99.0"}, "runtime_version"),
        ({"delegate": "warp-drive"}, "delegate"),
        ({"tier": "high"}, "tier"),
    ],
)
def test_kpis_bad_dates_and_unknown_slugs_are_400_naming_the_parameter(read_client, c, params, bad):
    response = read_client.get(KPIS_URL, params)
    assert response.status_code == 400
    assert bad in response.json()["detail"]  # API.md: {"error", "detail": {field: [...]}}


def test_kpis_need_read_scope(api_client, make_api_key, db):
    _, ingest_only = make_api_key(scopes=["ingest"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_only}")
    assert api_client.get(KPIS_URL).status_code == 403
    api_client.credentials()
    assert api_client.get(KPIS_URL).status_code == 401


def test_devices_list_is_paginated_filterable_and_pinned_in_queries(read_client, data, django_assert_num_queries):
    with django_assert_num_queries(4):  # key lookup, its last_used_at touch, count, page
        response = read_client.get(DEVICES_URL)
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert body["results"][0]["device_model"] == "google-pixel-8"
    assert read_client.get(DEVICES_URL, {"device_model": "samsung-galaxy-a54"}).json()["count"] == 1
    assert read_client.get(DEVICES_URL, {"vendor": "google", "tier": 1}).json()["count"] == 3
    assert read_client.get(DEVICES_URL, {"model_version": "1.4.0"}).json()["count"] == 4
    assert read_client.get(DEVICES_URL, {"model_version": "1.5.0"}).json()["count"] == 0
    assert read_client.get(DEVICES_URL, {"q": data[0].uid}).json()["count"] == 1
    bad = read_client.get(DEVICES_URL, {"device_model": "nokia-3310", "from": "soon"})
    assert bad.status_code == 400 and {"device_model", "from"} <= set(bad.json()["detail"])


def test_devices_list_query_count_does_not_grow_with_rows(read_client, c, django_assert_num_queries):
    for _ in range(30):
        device_make(c)
    with django_assert_num_queries(4):
        assert read_client.get(DEVICES_URL).json()["count"] == 30


def test_device_detail_by_uid_lists_its_crash_groups(read_client, c):
    device = device_make(c, uid="pixel8-0000.42")
    group = crash_group_make(c, devices=[device])
    body = read_client.get(f"{DEVICES_URL}{device.uid}/").json()
    assert body["uid"] == "pixel8-0000.42"
    assert [g["id"] for g in body["crash_groups"]] == [group.id]
    assert read_client.get(f"{DEVICES_URL}nope/").status_code == 404


def test_crash_groups_list_filters_and_detail(read_client, c, django_assert_num_queries):
    devices = [device_make(c) for _ in range(3)]
    gpu_group = crash_group_make(c, devices=devices, title="SIGSEGV in gpu delegate")
    cpu_group = crash_group_make(c, devices=devices[:1], title="OOM in xnnpack", delegate=c.cpu)
    for i in range(20):
        crash_group_make(c, devices=devices[:1], title=f"other {i}")
    with django_assert_num_queries(4):
        body = read_client.get(GROUPS_URL).json()
    assert body["count"] == 22
    assert [g["id"] for g in read_client.get(GROUPS_URL, {"delegate": "cpu"}).json()["results"]] == [cpu_group.id]
    assert read_client.get(GROUPS_URL, {"q": "gpu delegate"}).json()["results"][0]["id"] == gpu_group.id
    assert read_client.get(GROUPS_URL, {"status": "new", "model": "yolov8n"}).json()["count"] == 22
    assert read_client.get(GROUPS_URL, {"model": "nope"}).status_code == 400
    detail = read_client.get(f"{GROUPS_URL}{gpu_group.id}/").json()
    assert detail["device_count"] == 3
    assert len(detail["recent_crashes"]) == 3
    assert detail["recent_crashes"][0]["delegate"] == "gpu"
