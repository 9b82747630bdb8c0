"""Read API of the readiness verdicts: scope `read` or a role, the page's figures, a pinned query count."""

import pytest
from django.core.management import call_command

from .conftest import raw_sessions

pytestmark = pytest.mark.django_db
URL = "/api/v1/releases/yolov8n/1.5.0/"


def test_a_read_key_gets_the_release_with_every_path_and_reason(read_client, release, django_assert_num_queries):
    with django_assert_num_queries(12):  # key lookup and last-used stamp + the selector's fixed reads
        response = read_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert (body["model"], body["model_version"], body["verdict"]) == ("yolov8n", "1.5.0", "not_ready")
    assert body["lab_window_days"] == 90
    paths = {p["entry_id"]: p for d in body["device_models"] for p in d["paths"]}
    galaxy = paths[release.galaxy_gpu.pk]
    sessions = raw_sessions(release, release.galaxy_gpu)
    assert (galaxy["sessions"], galaxy["devices"]) == (len(sessions), 4)
    assert galaxy["verdict"] == "not_ready"
    assert galaxy["reasons"][0]["code"] == "kpi_missed" and galaxy["reasons"][0]["link"].startswith("/fleet/?")
    (group,) = paths[release.pixel_gpu.pk]["crash_groups"]
    assert (group["id"], group["devices"], group["device_share"]) == (release.open_group.pk, 2, pytest.approx(2 / 6))
    assert paths[release.pixel_cpu.pk]["reasons"][0]["link"].startswith("/benchmarks/regressions/?series=")


def test_a_cell_has_its_own_endpoint(read_client, release):
    body = read_client.get(f"/api/v1/releases/cells/{release.galaxy_gpu.pk}/").json()
    assert body["entry_id"] == release.galaxy_gpu.pk and body["verdict"] == "not_ready"
    assert {k["kpi"]: k["target"] for k in body["kpis"]}["p95_latency_ms"] == 120.0
    assert read_client.get("/api/v1/releases/cells/999999/").status_code == 404


def test_a_logged_in_viewer_reads_it_too(api_client, viewer_user, release):
    api_client.force_login(viewer_user)
    assert api_client.get(URL).status_code == 200


@pytest.mark.parametrize("scopes, device_uid, status", [([], "", 401), (["ingest"], "", 403),
                                                        (["ingest"], "pixel-000", 403)])  # fmt: skip
def test_other_credentials_cannot_read_it(api_client, make_api_key, release, scopes, device_uid, status):
    if scopes:
        _, raw = make_api_key(scopes=scopes, device_uid=device_uid)
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get(URL).status_code == status


def test_unknown_version_is_a_404(read_client, release):
    assert read_client.get("/api/v1/releases/yolov8n/0.0.1/").status_code == 404


def test_the_openapi_schema_describes_the_endpoints_and_stays_valid(client, tmp_path):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/releases/{model}/{version}/" in schema["paths"]
    assert "/api/v1/releases/cells/{entry_id}/" in schema["paths"]
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
