import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.kpi import selectors
from telemetry.kpi.buckets import hour_floor
from telemetry.rollups.compute import rollup_range_compute

from .fleet_factories import assert_same_kpis, catalog_make, device_make
from .rollup_factories import crash_make, session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    """Two device models over the last 30 hours: Pixel sessions on v1 (fast), Galaxy on v2 (slow, one crash)."""
    c = catalog_make()
    end = hour_floor(timezone.now())
    start = end - timedelta(hours=30)
    pixels = [device_make(c, device_model=c.pixel) for _ in range(3)]
    galaxies = [device_make(c, device_model=c.galaxy, app_version="3.3.0") for _ in range(2)]
    for hour in range(30):
        at = start + timedelta(hours=hour, minutes=5)
        for device in pixels:
            session_make(c, device=device, at=at, samples=[10.0, 12.0, 14.0], rss=180.0)
        for device in galaxies:
            s = session_make(c, device=device, at=at, samples=[150.0, 160.0], model_version=c.v2, rss=350.0, errors=1)
            if hour == 3:
                crash_make(c, session=s)
    rollup_range_compute(start=start, end=end + timedelta(hours=1))
    c.start, c.end = start, end
    return c


def test_fleet_health_shows_the_kpi_selector_numbers_and_every_chart(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d")
    assert response.status_code == 200
    expected = selectors.kpis_get(
        start=response.context["scope"].time_range.start, end=response.context["scope"].time_range.end, filters={}
    )
    assert_same_kpis(response.context["kpis"], expected)
    assert expected.sessions == 30 * 5
    chart_ids = {chart.chart_id for chart in response.context["charts"]}
    assert chart_ids == {
        "chart-latency", "chart-crash-free", "chart-errors", "chart-accelerator", "chart-fallback-ops",
        "chart-memory", "chart-adoption",
    }  # fmt: skip
    assert not next(c for c in response.context["charts"] if c.chart_id == "chart-latency").is_empty


def test_filters_narrow_every_figure_and_survive_in_links(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d&device_model=samsung-galaxy-a54")
    assert response.context["kpis"].sessions == 30 * 2
    assert response.context["kpis"].crashed_sessions == 2
    assert "device_model=samsung-galaxy-a54" in response.context["query_string"]
    latency = next(c for c in response.context["charts"] if c.chart_id == "chart-latency")
    assert latency.figure["layout"]["shapes"][0]["y0"] == 120.0  # tier 2 budget
    rows = response.context["rows"]
    assert [r["value"] for r in rows] == ["samsung-galaxy-a54"]
    assert "device_model=samsung-galaxy-a54" in rows[0]["link"]


def test_unknown_filter_value_is_reported_not_silently_applied(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/?device_model=no-such-phone")
    assert response.status_code == 200
    assert response.context["scope"].errors and b"Filter ignored" in response.content


def test_breakdown_sorts_by_a_column_both_ways(client, viewer_user, fleet):
    client.force_login(viewer_user)
    worst_first = client.get("/fleet/?range=7d&by=device_model&sort=p95").context["rows"]
    best_first = client.get("/fleet/?range=7d&by=device_model&sort=-p95").context["rows"]
    assert [r["value"] for r in worst_first] == ["samsung-galaxy-a54", "google-pixel-8"]
    assert [r["value"] for r in best_first] == ["google-pixel-8", "samsung-galaxy-a54"]


def test_breakdown_by_model_version_links_to_model_and_version_filters(client, viewer_user, fleet):
    client.force_login(viewer_user)
    rows = client.get("/fleet/?range=7d&by=model_version").context["rows"]
    link = next(r["link"] for r in rows if r["value"] == "yolov8n 1.5.0")
    assert "model=yolov8n" in link and "model_version=1.5.0" in link
    narrowed = client.get("/fleet/" + link)
    assert narrowed.context["kpis"].sessions == 60


def test_breakdown_csv_export_has_one_row_per_value(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d&by=app_version&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["app_version", "sessions", "devices"]
    assert sorted((r[0], r[1], r[2]) for r in rows[1:]) == [("3.2.1", "90", "3"), ("3.3.0", "60", "2")]


def test_custom_range_is_read_from_the_url(client, viewer_user, fleet):
    client.force_login(viewer_user)
    day = fleet.start.date().isoformat()
    response = client.get(f"/fleet/?range=custom&from={day}&to={day}")
    scope = response.context["scope"]
    assert scope.time_range.key == "custom"


def test_fleet_page_query_count_does_not_grow_with_devices(client, viewer_user, fleet, django_assert_max_num_queries):
    client.force_login(viewer_user)
    client.get("/fleet/?range=30d")  # warm sessions/content types
    with django_assert_max_num_queries(30):
        response = client.get("/fleet/?range=30d")
    assert response.status_code == 200


def test_release_comparison_reports_significance(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/compare/?range=7d&model=yolov8n&by=model_version&a=1.4.0&b=1.5.0")
    rows = {row["label"]: row for row in response.context["rows"]}
    assert rows["p95 latency (ms)"]["result"].verdict == "changed"
    assert rows["p95 latency (ms)"]["direction"] == "worse"
    assert rows["Sessions"]["a"] == "90" and rows["Sessions"]["b"] == "60"
    assert rows["Errors per 1k"]["result"].verdict == "significant"


def test_release_comparison_of_model_versions_needs_the_model(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/compare/?by=model_version&a=1.4.0&b=1.5.0")
    assert response.context["error"] and not response.context["rows"]


def test_multi_day_presets_are_calendar_days_and_24h_is_rolling():
    from datetime import UTC, datetime

    from telemetry.kpi.scope import time_range_parse

    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    seven = time_range_parse(params={"range": "7d"}, now=now)
    assert (seven.start, seven.end) == (datetime(2026, 11, 14, tzinfo=UTC), now)
    day = time_range_parse(params={"range": "24h"}, now=now)
    assert day.start == datetime(2026, 11, 19, 15, 30, tzinfo=UTC)
    assert time_range_parse(params={"range": "bogus"}, now=now).key == "7d"


def test_memory_distribution_counts_every_session_once_in_the_right_bins(fleet):
    from telemetry.fleet.selectors import peak_rss_distribution

    bins = peak_rss_distribution(start=fleet.start, end=fleet.end + timedelta(hours=1), filters={})
    assert sum(count for _, count in bins) == 30 * 5
    heavy = sum(count for edge, count in bins if edge >= 300)
    assert heavy == 30 * 2  # the Galaxy sessions at 350 MB


def test_release_comparison_offers_the_known_releases_and_names_an_unknown_one(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/compare/?range=7d&model=yolov8n&by=model_version")
    assert response.context["release_options"] == ["1.5.0", "1.4.0"]
    assert b'<datalist id="release-options"><option value="1.5.0"><option value="1.4.0"></datalist>' in response.content

    response = client.get("/fleet/compare/?range=7d&model=yolov8n&by=model_version&a=1.4.0&b=1.9.9")
    assert not response.context["rows"]
    assert response.context["error"] == "'1.9.9': no such version of yolov8n. Known: 1.5.0, 1.4.0."

    response = client.get("/fleet/compare/?range=7d&by=app_version")
    assert response.context["release_options"] == ["3.3.0", "3.2.1"]
