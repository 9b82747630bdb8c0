"""Fleet-weighted regression impact: the field population of each regression's cell on the list page and the API."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.field_impact import regressions_with_impact
from benchmarks.models import Regression

from .conftest import expected_population, lab_run, regression_on

pytestmark = pytest.mark.django_db
API, PAGE = "/api/v1/benchmarks/regressions/", "/benchmarks/regressions/"


def test_a_regression_carries_its_cells_field_population(planted):
    rows = {r.pk: r for r in regressions_with_impact(Regression.objects.all())}
    crowd, lab_only = rows[planted.regressions["crowd"].pk], rows[planted.regressions["lab_only"].pk]
    devices, per_day, share = expected_population(planted, "crowd")
    assert devices == 120  # the 121st galaxy was active 9 days ago only
    assert (crowd.field_devices, crowd.field_sessions_per_day) == (devices, pytest.approx(per_day))
    assert crowd.fleet_share == pytest.approx(share)
    assert (lab_only.field_devices, lab_only.field_sessions_per_day) == (0, 0.0)


def test_the_api_says_which_regressions_reach_the_field_and_orders_by_impact(planted, read_client):
    newer = regression_on(planted, "hot", run=lab_run(planted, "hot", p50=10.0, p95=20.0, days_ago=0))
    rows = read_client.get(API, {"status": "open"}).json()["results"]
    assert rows[0]["id"] == newer.pk  # newest first by default
    by_impact = read_client.get(API, {"status": "open", "order": "impact"}).json()["results"]
    assert [r["id"] for r in by_impact] == [
        planted.regressions["crowd"].pk, newer.pk, planted.regressions["lab_only"].pk
    ]  # fmt: skip
    crowd, _, lab_only = (r["field_population"] for r in by_impact)
    devices, per_day, share = expected_population(planted, "crowd")
    assert crowd == {
        "in_field": True, "active_devices": devices, "sessions_per_day": round(per_day, 3),
        "fleet_share": round(share, 6), "fleet_devices": crowd["fleet_devices"],
    }  # fmt: skip
    assert round(devices / crowd["fleet_devices"], 6) == crowd["fleet_share"]
    assert lab_only == {**lab_only, "in_field": False, "active_devices": 0, "sessions_per_day": 0.0}
    detail = read_client.get(f"{API}{planted.regressions['crowd'].pk}/").json()
    assert detail["field_population"] == crowd


def test_the_list_page_shows_the_population_and_orders_by_it(planted, client, viewer_user):
    client.force_login(viewer_user)
    newer = regression_on(planted, "hot", run=lab_run(planted, "hot", p50=10.0, p95=20.0, days_ago=0))
    response = client.get(PAGE)  # impact first by default
    ordered = [r.pk for r in response.context["regressions"]]
    assert ordered == [planted.regressions["crowd"].pk, newer.pk, planted.regressions["lab_only"].pk]
    newest = [r.pk for r in client.get(PAGE, {"order": "newest"}).context["regressions"]]
    assert newest[0] == newer.pk
    page = response.content.decode()
    assert "120 devices · " in page and "no field population" in page


def test_list_query_counts_do_not_grow_with_regressions(planted, client, viewer_user, read_client):
    client.force_login(viewer_user)

    def queries(caller, url):
        caller.get(url)  # an API key's first use of a minute records its last use: one more write
        with CaptureQueriesContext(connection) as captured:
            assert caller.get(url, {"order": "impact"}).status_code == 200
        return len(captured)

    before = (queries(client, PAGE), queries(read_client, API))
    assert before == (10, 4)  # measured with 2 regressions; the same with 4
    for days_ago in (0, 1):
        regression_on(planted, f"hot-{days_ago}", run=lab_run(planted, "hot", p50=10.0, p95=20.0, days_ago=days_ago))
    assert Regression.objects.count() == 4
    assert (queries(client, PAGE), queries(read_client, API)) == before


def test_the_home_page_ranks_open_lab_regressions_by_their_field_population(planted, client, viewer_user):
    # A newer regression on a cell nobody runs must not push the one that reaches 120 devices off the top.
    newer = regression_on(planted, "hot", run=lab_run(planted, "hot", p50=10.0, p95=20.0, days_ago=0))
    client.force_login(viewer_user)
    response = client.get("/")
    shown = response.context["lab_regressions"]
    expected = sorted(
        (r for r in regressions_with_impact(Regression.objects.filter(status="open"))),
        key=lambda r: (-(r.field_devices or 0), -(r.field_sessions_per_day or 0), -r.detected_at.timestamp(), -r.pk),
    )
    assert [r.pk for r in shown] == [r.pk for r in expected][:10]
    assert shown[0].pk == planted.regressions["crowd"].pk and newer.pk in [r.pk for r in shown]
    devices, _, _ = expected_population(planted, "crowd")
    assert f"{devices} devices · " in response.content.decode()
