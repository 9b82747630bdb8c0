"""Thermal and energy attribution (issue 19, item 5) against the planted fleet: latency per reported thermal state,
per cell and per device model, and energy per inference beside it — every figure reckoned from the raw rows."""

import csv
import io
import re
from collections import defaultdict

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks.models import BenchmarkRun
from labfield.selectors import cell_gap_get
from labfield.thermal import thermal_list
from telemetry.kpi.buckets import hour_floors
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_hours_compute

from .conftest import expected_field, more_cells, quantiles, window_start
from .test_gap_selectors import close, entry_of

pytestmark = pytest.mark.django_db
THERMAL_API, THERMAL_PAGE, THERMAL_CSV = "/api/v1/lab-field/thermal/", "/lab-field/thermal/", "/lab-field/thermal.csv"


@pytest.fixture
def energized(planted):
    """The planted fleet, its raw sessions given energy and uneven inference counts (so the weighting shows):
    energy 1.0 / 1.5 / 2.0 mJ by creation rank, none on "Critical" sessions nor on every fifth session. By rank, not
    id: PostgreSQL's ids go on from earlier tests, and some offsets made the weighted and unweighted means equal. The
    hours touched are rolled up again, as the rollup run does for late data (the figures read the thermal rollups)."""
    touched = []
    for rank, session in enumerate(InferenceSession.objects.order_by("pk"), start=1):
        reported = session.thermal_state != "Critical" and rank % 5 != 0
        InferenceSession.objects.filter(pk=session.pk).update(
            energy_mj_per_inference=1.0 + (rank % 3) * 0.5 if reported else None,
            inferences=20 + (rank % 4) * 10,
        )
        touched.append(session.started_at)
    rollup_hours_compute(hours=hour_floors(touched))
    return planted


def raw_energy(q=None, **where):
    """(Σ e·n ÷ Σ n over the sessions reporting energy, their count) in the last 7 days, from the raw rows."""
    rows = InferenceSession.objects.filter(started_at__gte=window_start(7), **where)
    if q is not None:
        rows = rows.filter(q)
    reported = [(e, n) for e, n in rows.values_list("energy_mj_per_inference", "inferences") if e is not None]
    total = sum(n for _, n in reported)
    return (sum(e * n for e, n in reported) / total if total else None), len(reported)


def cell_where(planted, name):
    mv, rv, dl, dm = planted.cells[name]
    return dict(model_version=mv, runtime_version=rv, delegate=dl, device_model=dm)


def test_a_cell_has_latency_and_energy_per_reported_thermal_state(energized):
    planted = energized
    gap = cell_gap_get(entry=entry_of(planted, "hot"))
    states = {state.row.state: state for state in gap.thermal_states}
    assert set(states) == {"nominal", "fair", "serious", "critical", ""}  # the device's words, lower-cased
    in_window = expected_field(planted, "hot")[0]
    for state, row in states.items():
        sessions, devices, p50, p95 = expected_field(planted, "hot", where=lambda t, os, s=state: t.lower() == s)
        assert (row.row.sessions, row.row.devices) == (sessions, devices)
        assert close(row.row.p50_ms, p50) and close(row.row.p95_ms, p95)
        assert row.share == sessions / in_window
        assert close(row.ratio.p95, p95 / gap.lab.p95_ms)
        assert row.row.throttled == (state in ("serious", "critical"))
        energy, reporting = raw_energy(thermal_state__iexact=state, **cell_where(planted, "hot"))
        assert row.row.energy.sessions == reporting
        assert row.row.energy_mj_per_inference == pytest.approx(energy) if energy is not None else True
    assert states["critical"].row.energy_mj_per_inference is None  # not reported: never invented as 0
    assert states["serious"].row.energy_mj_per_inference is not None
    energy, reporting = raw_energy(**cell_where(planted, "hot"))
    assert gap.energy_7d.mj_per_inference == pytest.approx(energy) and gap.energy_7d.sessions == reporting
    # the weighting matters: an unweighted mean of the same sessions differs
    values = [e for e in InferenceSession.objects.filter(started_at__gte=window_start(7), **cell_where(planted, "hot"))
              .values_list("energy_mj_per_inference", flat=True) if e is not None]  # fmt: skip
    assert sum(values) / len(values) != pytest.approx(energy)


def test_the_lab_energy_is_the_median_of_the_runs_reporting_it(energized):
    planted = energized
    runs = BenchmarkRun.objects.filter(**cell_where(planted, "hot"))
    recent_done = list(runs.filter(status="done", ran_at__gte=window_start(90)).order_by("ran_at"))
    assert len(recent_done) == 3
    for run, energy in zip(recent_done, (5.0, None, 6.0), strict=True):
        BenchmarkRun.objects.filter(pk=run.pk).update(energy_mj_per_inference=energy)
    runs.exclude(pk__in=[run.pk for run in recent_done]).update(energy_mj_per_inference=100.0)  # failed, too old

    gap = cell_gap_get(entry=entry_of(planted, "hot"))

    assert gap.lab.energy_mj_per_inference == (5.0 + 6.0) / 2  # the run without energy is left out, not a 0
    assert cell_gap_get(entry=entry_of(planted, "slow")).lab.energy_mj_per_inference is None


def test_page_api_and_csv_show_the_cell_s_same_figures(energized, client, viewer_user, read_client):
    planted = energized
    client.force_login(viewer_user)
    entry_id = planted.entry("hot").pk
    page = client.get(f"/compat/cell/{entry_id}/").content.decode()
    api = read_client.get(f"/api/v1/lab-field/gaps/{entry_id}/").json()
    rows = {row["thermal_state"]: row for row in _csv(client, {"cell": entry_id})}
    listed = {row["thermal_state"]: row for row in read_client.get(THERMAL_API, {"cell": entry_id}).json()["results"]}
    assert set(rows) == set(listed) == {state["state"]["thermal_state"] for state in api["thermal_states"]}
    for state in api["thermal_states"]:
        figures = state["state"]
        name = figures["thermal_state"]
        cells = _page_row(page, name)
        assert float(cells[4]) == figures["p50_ms"] == float(rows[name]["p50_ms"]) == listed[name]["p50_ms"]
        assert float(cells[5]) == figures["p95_ms"] == float(rows[name]["p95_ms"]) == listed[name]["p95_ms"]
        energy = figures["energy"]["mj_per_inference"]
        assert listed[name]["energy"]["mj_per_inference"] == energy
        if energy is None:
            assert cells[7] == "not reported" and rows[name]["energy_mj_per_inference"] == ""
        else:
            assert float(cells[7]) == energy == float(rows[name]["energy_mj_per_inference"])
        assert int(cells[1]) == figures["sessions"] == int(rows[name]["sessions"])
    assert api["energy_7d"]["mj_per_inference"] == round(raw_energy(**cell_where(planted, "hot"))[0], 3)
    assert f"{api['energy_7d']['mj_per_inference']:.3f} mJ/inference" in page


def test_the_list_by_device_model_matches_the_raw_sessions(energized):
    planted = energized
    dm_of = {name: cell[3] for name, cell in planted.cells.items()}
    since = window_start(7)
    expected = defaultdict(list)
    for name, sessions in planted.sessions.items():
        for thermal, _, samples, started, device in sessions:
            if started >= since:
                expected[(dm_of[name].slug, thermal.lower())].append((samples, device))
    rows = thermal_list(filters={})
    assert {(row.device_model, row.state) for row in rows} == set(expected)
    for row in rows:
        planted_rows = expected[(row.device_model, row.state)]
        p50, p95 = quantiles([x for samples, _ in planted_rows for x in samples])
        assert (row.sessions, row.devices) == (len(planted_rows), len({device for _, device in planted_rows}))
        assert close(row.p50_ms, p50) and close(row.p95_ms, p95)
        energy, reporting = raw_energy(device_model__slug=row.device_model, thermal_state__iexact=row.state)
        assert row.energy.sessions == reporting
        assert row.energy_mj_per_inference == (pytest.approx(energy) if energy is not None else None)
    names = [row.device_model_name for row in rows]
    assert names == sorted(names)


def test_the_list_filters_and_refuses_bad_parameters(energized, client, viewer_user, read_client):
    client.force_login(viewer_user)
    only = read_client.get(THERMAL_API, {"model_version": "1.5.0"}).json()["results"]
    assert {row["device_model"] for row in only} == {"google-pixel-8"}
    assert sum(row["sessions"] for row in only) == expected_field(energized, "slow")[0]
    for params in ({"cell": "abc"}, {"cell": "999999"}, {"device_model": "no-such-phone"}, {"cell": "١٢"}):
        assert read_client.get(THERMAL_API, params).status_code == 400
        assert client.get(THERMAL_PAGE, params).status_code == 400
        assert client.get(THERMAL_CSV, params).status_code == 400


def test_the_list_reads_a_fixed_number_of_queries(energized, client, viewer_user, read_client):
    client.force_login(viewer_user)
    read_client.get(THERMAL_API)  # the key's first use writes its last_used_at once

    def counts():
        with CaptureQueriesContext(connection) as api:
            assert read_client.get(THERMAL_API).status_code == 200
        with CaptureQueriesContext(connection) as page:
            assert client.get(THERMAL_PAGE).status_code == 200
        return len(api), len(page)

    before = counts()
    more_cells(energized)
    assert counts() == before == (THERMAL_API_QUERIES, THERMAL_PAGE_QUERIES)


# The API: the key's lookup, then the aggregate and the histogram sums; the page: session, user and nav (5), then the
# same 2 reads.
THERMAL_API_QUERIES, THERMAL_PAGE_QUERIES = 3, 7


def _csv(client, params):
    response = client.get(THERMAL_CSV, params)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def _page_row(page, state):
    """The cells of one row of the cell page's thermal-states table."""
    match = re.search(rf'<tr data-state="{re.escape(state)}">(.*?)</tr>', page, re.S)
    assert match, state
    return [re.sub(r"<[^>]+>|throttled", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match[1], re.S)]  # fmt: skip
