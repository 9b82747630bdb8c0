"""A regression links to the comparison that shows it: its change run against the run before the change."""

import pytest

from benchmarks.models import Regression
from benchmarks.processing import series_detect

from .conftest import make_run


@pytest.fixture
def regression(catalog):
    runs = [
        make_run(day=day, mean=10.0 * (1.15 if day >= 10 else 1.0) * (1 + 0.005 * (day % 3)), accuracy=0.75)
        for day in range(16)
    ]
    series_detect(series=runs[0].series)
    return Regression.objects.get(metric="latency_mean_ms")


def _compare_url(regression) -> str:
    return f"/benchmarks/compare/?a={regression.change_run_id}&b={regression.run_before_id}"


def test_a_regression_row_links_to_its_change_run_against_the_run_before(client, viewer_user, regression):
    client.force_login(viewer_user)
    assert regression.run_before_id

    html = client.get("/benchmarks/regressions/").content.decode()

    assert f'href="{_compare_url(regression)}"' in html
    assert (
        f'aria-label="Compare run #{regression.change_run_id} with run #{regression.run_before_id}: latency_mean_ms"'
        in html
    )
    comparison = client.get(_compare_url(regression)).context["comparison"]
    assert (comparison.a.id, comparison.b.id) == (regression.change_run_id, regression.run_before_id)


def test_a_regression_without_a_run_before_links_to_the_default_reference(client, viewer_user, regression):
    Regression.objects.filter(id=regression.id).update(run_before=None)
    client.force_login(viewer_user)

    html = client.get("/benchmarks/regressions/").content.decode()

    assert f'href="/benchmarks/compare/?a={regression.change_run_id}"' in html


def test_the_home_pages_open_regressions_link_to_their_comparison(client, viewer_user, regression):
    client.force_login(viewer_user)

    html = client.get("/").content.decode()

    assert f'href="{_compare_url(regression)}"' in html
