"""Lab coverage states, the coverage-gap report, its CSV and API against the raw-row reckoning (coverage_fleet)."""

import csv
import io

import pytest

from compat.panels import CoverageState
from labfield.coverage import lab_coverage, pair_coverage_states
from labfield.coverage_report import coverage_report_get
from telemetry.kpi.scope import scope_parse

from .coverage_fleet import coverage_fleet_make, expected, more_pairs, window_start

pytestmark = pytest.mark.django_db
API = "/api/v1/lab-field/coverage-gaps/"


@pytest.fixture
def fleet():
    return coverage_fleet_make()


def gap_keys(gaps):
    return [(g.model_version_id, g.device_model_id, g.devices, g.sessions) for g in gaps]


def test_the_figures_match_the_raw_rows_and_the_planted_answers(fleet):
    c, want = fleet, expected()
    scope = scope_parse({}, default_range="7d")
    coverage = lab_coverage(start=scope.time_range.start, end=scope.time_range.end, filters={})
    assert (coverage.share, coverage.covered_pairs, coverage.pairs, coverage.devices) == (
        pytest.approx(want.share), want.covered_pairs, want.pairs, want.devices,
    )  # fmt: skip
    # Planted: only A (4 devices) is covered, of 4 + 3 + 2 + 5 = 14 device-pairs; the gaps rank D, B, C.
    assert (coverage.share, coverage.covered_pairs, coverage.pairs) == (pytest.approx(4 / 14), 1, 4)
    assert gap_keys(coverage.gaps) == [g[:4] for g in want.gaps] == [
        (c.v2.id, c.galaxy.id, 5, 8), (c.v1.id, c.galaxy.id, 3, 3), (c.v2.id, c.pixel.id, 2, 2),
    ]  # fmt: skip
    assert coverage.covered == {(c.v1.id, c.pixel.id)}


def test_the_report_names_the_runtime_and_delegate_the_fleet_runs(fleet):
    report = coverage_report_get(scope=scope_parse({}, default_range="7d"))
    want = expected()
    assert [(r.rank, r.devices, r.sessions, [(p.name, p.sessions) for p in r.paths]) for r in report.gaps] == [
        (rank, g[2], g[3], g[4]) for rank, g in enumerate(want.gaps, start=1)
    ]
    top = report.gaps[0]
    assert (top.model, top.model_version, top.device_model, top.fleet_paths) == (
        "yolov8n", "1.5.0", "samsung-galaxy-a54", "tflite/cpu (6); tflite/gpu (2)",
    )  # fmt: skip
    assert top.device_share == pytest.approx(5 / 14)


def test_every_pair_has_one_state_as_the_raw_rows_say(fleet):
    c, want = fleet, expected()
    coverage = lab_coverage(start=window_start(), end=scope_parse({}).time_range.end, filters={})
    evidenced = {pair for pair, state in want.states.items() if state == "not-in-fleet"} | {(c.v1.id, c.galaxy.id)}
    states = pair_coverage_states(coverage=coverage, evidenced=evidenced)
    got = {pair: states.get(pair, CoverageState.NO_EVIDENCE) for pair in want.states}
    assert got == want.states
    assert got[(c.v2.id, c.moto.id)] == "not-in-fleet" and got[(c.v1.id, c.moto.id)] == "no-evidence"
    assert got[(c.v1.id, c.galaxy.id)] == "fleet-no-lab"  # the gpu lab run does not cover the cpu the field runs


def test_the_matrix_marks_each_cell_and_its_counts_match_the_cells(fleet, client, viewer_user):
    client.force_login(viewer_user)
    response = client.get("/compat/")
    matrix, want = response.context["matrix"], expected()
    assert matrix.coverage_counts == {"lab-tested": 1, "fleet-no-lab": 3, "not-in-fleet": 1, "no-evidence": 1}
    assert matrix.coverage_counts == {s: list(want.states.values()).count(s) for s in CoverageState.values}
    assert sum(matrix.coverage_counts.values()) == matrix.cell_count == 6
    # Statuses count the cells with a compat entry (thin field evidence: untested); the one empty cell is not
    # "untested" (the summary used to count it so: untested 6 of 6).
    assert (matrix.status_counts, matrix.empty_count) == ({"untested": 5}, 1)
    html = response.content.decode()
    assert html.count("cov-fleet-no-lab") == 3 + 1  # three cells and the legend
    assert 'id="coverage-counts"' in html and "in the fleet, no lab run: 3" in html
    assert "/lab-field/coverage/" in html


def test_page_csv_and_api_show_the_same_rows(fleet, client, viewer_user, read_client):
    want = [(g[2], g[3]) for g in expected().gaps]
    client.force_login(viewer_user)
    page = client.get("/lab-field/coverage/")
    assert page.status_code == 200
    assert [(g.devices, g.sessions) for g in page.context["gaps"]] == want
    assert "29%" in page.content.decode()  # 4 of 14, as the home card prints it
    rows = list(csv.reader(io.StringIO(client.get("/lab-field/coverage.csv").content.decode())))
    assert rows[0][:6] == ["rank", "model", "model_version", "device_model", "vendor", "devices"]
    assert [(int(r[5]), int(r[7])) for r in rows[1:]] == want
    assert rows[1][8] == "tflite/cpu (6); tflite/gpu (2)"
    body = read_client.get(API).json()
    assert body["count"] == 3
    assert [(r["devices"], r["sessions"]) for r in body["results"]] == want
    assert body["results"][0]["fleet_paths"] == [
        {"runtime": "tflite", "delegate": "cpu", "sessions": 6}, {"runtime": "tflite", "delegate": "gpu", "sessions": 2},
    ]  # fmt: skip
    assert body["results"][0]["device_share"] == round(5 / 14, 4) == float(rows[1][6])


def test_filters_narrow_the_report_and_bad_parameters_are_400(fleet, client, viewer_user, read_client):
    galaxy = read_client.get(API, {"device_model": "samsung-galaxy-a54"}).json()["results"]
    assert [r["device_model"] for r in galaxy] == ["samsung-galaxy-a54"] * 2
    assert read_client.get(API, {"device_model": "nope"}).status_code == 400
    assert read_client.get(API, {"from": "yesterday"}).status_code == 400
    client.force_login(viewer_user)
    page = client.get("/lab-field/coverage/", {"device_model": "samsung-galaxy-a54"})
    assert [g.device_model for g in page.context["gaps"]] == ["samsung-galaxy-a54"] * 2


def test_the_api_needs_the_read_scope(fleet, api_client):
    assert api_client.get(API).status_code in (401, 403)


def test_the_home_card_links_to_the_report_with_its_scope(fleet, client, viewer_user):
    client.force_login(viewer_user)
    response = client.get("/?range=7d")
    card = next(card for card in response.context["cards"] if card.key == "lab_coverage")
    assert card.link == "/lab-field/coverage/?range=7d"
    assert card.display == "29%"


def test_query_counts_do_not_grow_with_the_pairs(fleet, client, viewer_user, read_client, django_assert_num_queries):
    client.force_login(viewer_user)
    scope = scope_parse({}, default_range="7d")
    read_client.get(API)  # the key's first use records it (one write, once)
    counts = []
    for round_ in range(2):
        with django_assert_num_queries(SELECTOR_QUERIES):
            coverage_report_get(scope=scope)
        with django_assert_num_queries(API_QUERIES):
            read_client.get(API)
        with django_assert_num_queries(PAGE_QUERIES):
            client.get("/lab-field/coverage/")
        counts.append(len(coverage_report_get(scope=scope).gaps))
        if round_ == 0:
            more_pairs(fleet)
    assert counts == [3, 6]


# lab_coverage on the unfiltered 7-day window: the window's rows (active cells, their runtimes and each pair's
# devices, one query: 7 → 5 since the window holds them), lab runs; then model versions, device models, delegates.
# The API adds its key and the count, and its trailing 7 × 24 hours are no window (a raw first edge: the rollup
# cells, runtimes and devices are read as before); the page its session, user, groups and the scope form's catalog
# options (two queries, 5 before).
SELECTOR_QUERIES = 5
API_QUERIES = 9
PAGE_QUERIES = 12  # 17 before


def test_a_fleet_limited_user_gets_no_fleet_wide_coverage(fleet, client, viewer_user):
    from core.models import FleetLimit

    FleetLimit.objects.create(user=viewer_user, fleets=["globex"])
    client.force_login(viewer_user)
    for url in ("/lab-field/coverage/", "/lab-field/coverage.csv", API):
        assert client.get(url).status_code == 403, url
