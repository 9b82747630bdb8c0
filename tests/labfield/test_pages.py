"""The ranked gap page, its CSV export and the gap panel of the compat cell page: the same numbers as the API."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import more_cells

pytestmark = pytest.mark.django_db
PAGE, CSV = "/lab-field/gaps/", "/lab-field/gaps.csv"


def test_the_ranked_page_lists_flagged_cells_first(planted, client, viewer_user):
    client.force_login(viewer_user)
    response = client.get(PAGE)
    assert response.status_code == 200
    gaps = list(response.context["gaps"])
    assert [(g.cell, g.flagged) for g in gaps][:1] == [(planted.key("slow"), True)]
    assert "⚠ gap" in response.content.decode()
    assert client.get(PAGE, {"order": "worst"}).status_code == 400


def test_the_csv_has_the_api_numbers(planted, client, viewer_user, read_client):
    client.force_login(viewer_user)
    response = client.get(CSV, {"flagged": "true"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    api = read_client.get("/api/v1/lab-field/gaps/", {"flagged": "true"}).json()["results"]
    assert len(rows) == len(api) == 1
    assert float(rows[0]["ratio_7d_p95"]) == api[0]["ratio_7d"]["p95"]
    assert float(rows[0]["field_7d_p95_ms"]) == api[0]["field_7d"]["p95_ms"]
    assert (int(rows[0]["field_7d_devices"]), rows[0]["flagged"]) == (api[0]["field_7d"]["devices"], "yes")


def test_the_page_query_count_does_not_grow_with_cells(planted, client, viewer_user):
    client.force_login(viewer_user)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(PAGE).status_code == 200
        return len(captured)

    before = queries()
    more_cells(planted)
    assert queries() == before == 11  # 5 for the session, user and nav, then the 6 reads of gaps_list


def test_the_cell_page_shows_the_gap_with_its_thermal_split(planted, client, viewer_user, django_assert_num_queries):
    client.force_login(viewer_user)
    url = f"/compat/cell/{planted.entry('hot').pk}/"
    with django_assert_num_queries(CELL_PAGE_QUERIES):
        response = client.get(url)
    page = response.content.decode()
    assert 'id="lab-field"' in page and "7 days, throttled" in page and "2.30×" in page
    assert "⚠ field p95 over 1.5× the lab</span> throttled" in page
    more_cells(planted)
    with django_assert_num_queries(CELL_PAGE_QUERIES):
        client.get(url)


def test_a_cell_without_field_sessions_says_so(planted, client, viewer_user):
    client.force_login(viewer_user)
    page = client.get(f"/compat/cell/{planted.entry('lab_only').pk}/").content.decode()
    assert "No field sessions on this cell in the last 30 days." in page


CELL_PAGE_QUERIES = 22  # the compat page's own, the gap panel's (≤ 12, 2 of them thermal), the drift panel's 1
