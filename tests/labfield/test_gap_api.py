"""GET /api/v1/lab-field/gaps/ and /gaps/{cell_id}/: the selectors' numbers, paged, filtered, read scope."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import expected_field, expected_lab, more_cells

pytestmark = pytest.mark.django_db
LIST = "/api/v1/lab-field/gaps/"


def test_the_list_is_ranked_and_carries_the_planted_figures(planted, read_client):
    body = read_client.get(LIST).json()
    assert body["count"] == 3
    rows = body["results"]
    assert [(r["device_model"], r["model_version"], r["flagged"]) for r in rows] == [
        ("google-pixel-8", "1.5.0", True), ("samsung-galaxy-a54", "1.4.0", False), ("google-pixel-8", "1.4.0", False),
    ]  # fmt: skip
    slow = rows[0]
    sessions, devices, p50, p95 = expected_field(planted, "slow")
    assert slow["cell_id"] == planted.entry("slow").pk
    assert (slow["field_7d"]["sessions"], slow["field_7d"]["devices"]) == (sessions, devices)
    assert slow["field_7d"]["p95_ms"] == pytest.approx(p95, rel=0.011)
    assert slow["lab"]["p95_ms"] == expected_lab(planted, "slow")[1]
    assert slow["ratio_7d"]["p95"] == pytest.approx(2.0, rel=0.011)
    assert "thermal" not in slow  # splits are the detail's


def test_filters_order_and_bad_parameters(planted, read_client):
    flagged = read_client.get(LIST, {"flagged": "true"}).json()["results"]
    assert [r["model_version"] for r in flagged] == ["1.5.0"]
    galaxy = read_client.get(LIST, {"device_model": "samsung-galaxy-a54"}).json()["results"]
    assert [r["device_model"] for r in galaxy] == ["samsung-galaxy-a54"]
    ratios = [r["ratio_7d"]["p95"] for r in read_client.get(LIST, {"order": "ratio"}).json()["results"]]
    assert ratios == sorted(ratios, reverse=True)
    for params, name in (
        ({"flagged": "maybe"}, "flagged"),
        ({"order": "worst"}, "order"),
        ({"delegate": "nope"}, "delegate"),
    ):
        response = read_client.get(LIST, params)
        assert response.status_code == 400 and name in response.json()["detail"]


def test_the_detail_has_the_thermal_split(planted, read_client):
    body = read_client.get(f"{LIST}{planted.entry('hot').pk}/").json()
    thermal = {row["key"]: row for row in body["thermal"]}
    assert thermal["throttled"]["ratio"]["p95"] == pytest.approx(2.3, rel=0.011) and thermal["throttled"]["flagged"]
    assert not thermal["not_throttled"]["flagged"] and body["flagged"] is False
    assert body["flagged_parts"] == ["throttled"]
    assert {row["key"] for row in body["os_versions"]} == {"Android 14", "Android 15"}
    assert read_client.get(f"{LIST}999999/").status_code == 404


def test_a_viewer_may_read_and_a_stranger_may_not(planted, client, viewer_user, api_client):
    assert api_client.get(LIST).status_code == 401
    client.force_login(viewer_user)
    assert client.get(LIST).status_code == 200


def test_the_list_query_count_does_not_grow_with_cells(planted, read_client):
    def queries():
        read_client.get(LIST)  # the key's first use of a minute records its last use: one more write
        with CaptureQueriesContext(connection) as captured:
            assert read_client.get(LIST).status_code == 200
        return len(captured)

    before = queries()
    more_cells(planted)
    assert read_client.get(LIST).json()["count"] == 6
    assert queries() == before == 7  # the key lookup, then the 6 reads of gaps_list
