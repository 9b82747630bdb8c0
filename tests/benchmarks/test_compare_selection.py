"""Runs ticked on the runs list: two go to the a-vs-b report, N of one series against its pinned baseline."""

import csv
import io

import pytest

from benchmarks.models import BenchmarkRun, RunStatus
from benchmarks.services import baseline_pin

from .conftest import make_run

URL = "/benchmarks/compare/runs/"


@pytest.fixture
def series_runs(catalog):
    """Five nightly runs of one series, slower from day 3 on; samples make the Welch test meaningful."""
    return [
        make_run(
            day=day,
            mean=10.0 * (1.2 if day >= 3 else 1.0),
            accuracy=0.75,
            samples=[(12.0 if day >= 3 else 10.0) + 0.05 * i for i in range(10)],
        )
        for day in range(5)
    ]


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def test_the_runs_list_has_a_checkbox_per_run_and_the_two_compare_buttons(client, viewer_user, series_runs):
    client.force_login(viewer_user)

    html = client.get("/benchmarks/").content.decode()

    assert f'name="run" value="{series_runs[0].id}"' in html
    assert f'action="{URL}"' in html
    assert 'name="mode" value="pair"' in html and 'name="mode" value="baseline"' in html


def test_two_ticked_runs_open_the_comparison_with_the_later_one_as_candidate(client, viewer_user, series_runs):
    client.force_login(viewer_user)
    older, newer = series_runs[1], series_runs[4]

    response = client.get(URL, {"run": [older.id, newer.id], "mode": "pair"})

    assert response.status_code == 302
    assert response["Location"] == f"/benchmarks/compare/?a={newer.id}&b={older.id}"
    assert client.get(response["Location"]).context["comparison"].a == newer


@pytest.mark.parametrize("ticked", [1, 3])
def test_a_pair_needs_exactly_two_runs_and_says_so_on_the_list_with_the_ticks_kept(
    client, viewer_user, series_runs, ticked
):
    client.force_login(viewer_user)
    run_ids = [run.id for run in series_runs[:ticked]]

    response = client.get(URL, {"run": run_ids, "mode": "pair", "next": "/benchmarks/?delegate=gpu"}, follow=True)

    assert response.redirect_chain[0][0].startswith("/benchmarks/?delegate=gpu&run=")
    assert _messages(response) == [f"Tick exactly two runs to compare them (you ticked {ticked})."]
    assert response.context["ticked"] == set(run_ids)
    assert f'value="{run_ids[0]}" id="tick-{run_ids[0]}" aria-label="Tick run #{run_ids[0]}" checked' in (
        response.content.decode()
    )


def test_the_way_back_never_leaves_the_runs_list(client, viewer_user, series_runs):
    client.force_login(viewer_user)

    response = client.get(URL, {"run": [series_runs[0].id], "next": "https://evil.example/benchmarks/"})

    assert response["Location"] == f"/benchmarks/?run={series_runs[0].id}"


def test_n_runs_of_one_series_sit_beside_its_baseline_with_change_and_significance(
    client, viewer_user, support_user, series_runs, django_assert_num_queries
):
    baseline_pin(run=series_runs[0], user=support_user)
    client.force_login(viewer_user)
    ticked = [series_runs[2].id, series_runs[4].id, series_runs[0].id]  # the baseline itself is left out

    with django_assert_num_queries(6):  # session, user, groups (nav role), user + group perms, runs with baseline
        response = client.get(URL, {"run": ticked, "mode": "baseline"})

    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert comparison.baseline.id == series_runs[0].id
    assert [run.id for run in comparison.runs] == [series_runs[2].id, series_runs[4].id]
    mean = next(metric for metric in comparison.metrics if metric.label == "Latency mean")
    assert mean.baseline == pytest.approx(10.0)
    same, slower = mean.cells
    assert same.change_text == "+0.0 %" and same.verdict == "same"
    assert slower.change_text == "+20.0 %" and slower.verdict == "worse"
    assert "Welch t, significant" in slower.significance
    html = response.content.decode()
    assert "2 runs vs baseline run #" in html and "▼ worse" in html
    assert f"/benchmarks/compare/?a={series_runs[4].id}&b={series_runs[0].id}" in html


def test_the_baseline_table_exports_csv(client, viewer_user, support_user, series_runs):
    baseline_pin(run=series_runs[0], user=support_user)
    client.force_login(viewer_user)

    response = client.get(URL, {"run": [series_runs[4].id], "mode": "baseline", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    mean = next(row for row in rows if row["metric"] == "Latency mean")
    assert response["Content-Type"].startswith("text/csv")
    assert mean["run"] == str(series_runs[4].id) and mean["change"] == "+20.0 %" and mean["verdict"] == "worse"


def test_runs_of_different_series_cannot_go_against_one_baseline(client, viewer_user, support_user, series_runs):
    other_series = make_run(day=6, mean=9.0, delegate="xnnpack")
    baseline_pin(run=series_runs[0], user=support_user)
    client.force_login(viewer_user)

    response = client.get(URL, {"run": [series_runs[3].id, other_series.id], "mode": "baseline"}, follow=True)

    assert _messages(response)[0].startswith("The ticked runs belong to 2 series")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no baseline", "This series has no pinned baseline"),
        ("only the baseline", "You ticked only the baseline itself"),
        ("nothing", "Tick one or more runs of one series"),
        ("unfinished", "has not finished"),
        ("gone", "Some of the ticked runs no longer exist"),
    ],
)
def test_a_baseline_selection_that_makes_no_sense_is_explained(
    client, viewer_user, support_user, series_runs, case, message
):
    if case != "no baseline":
        baseline_pin(run=series_runs[0], user=support_user)
    ticked = {
        "no baseline": [series_runs[3].id],
        "only the baseline": [series_runs[0].id],
        "nothing": [],
        "unfinished": [series_runs[3].id],
        "gone": [series_runs[3].id, 999_999],
    }[case]
    if case == "unfinished":
        BenchmarkRun.objects.filter(id=series_runs[3].id).update(status=RunStatus.RUNNING)
    client.force_login(viewer_user)

    response = client.get(URL, {"run": ticked, "mode": "baseline"}, follow=True)

    assert response.status_code == 200
    assert any(message in text for text in _messages(response)), _messages(response)


def test_a_run_parameter_that_is_not_an_id_is_a_400(client, viewer_user):
    client.force_login(viewer_user)

    assert client.get(URL, {"run": ["12", "x"]}).status_code == 400
    assert client.get(URL, {"run": ["99999999999999999999"]}).status_code == 400
