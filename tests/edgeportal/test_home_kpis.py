from datetime import timedelta

import pytest
from django.utils import timezone

from edgeportal.selectors import kpi_status, per_device_model_judge
from telemetry.kpi import selectors
from telemetry.kpi.buckets import hour_floor
from telemetry.rollups.compute import rollup_range_compute
from tests.telemetry.fleet_factories import assert_same_kpis, catalog_make, crash_group_make, device_make
from tests.telemetry.rollup_factories import crash_make, session_make

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value,target,higher,expected",
    [
        (40.0, 50.0, False, "met"),
        (46.0, 50.0, False, "at_risk"),
        (50.0, 50.0, False, "at_risk"),
        (51.0, 50.0, False, "missed"),
        (0.9996, 0.995, True, "met"),
        (0.9952, 0.995, True, "at_risk"),
        (0.99, 0.995, True, "missed"),
        (None, 0.995, True, "unknown"),
    ],
)
def test_kpi_status_uses_ninety_percent_of_the_allowance_as_at_risk(value, target, higher, expected):
    assert kpi_status(value=value, target=target, higher_is_better=higher) == expected


@pytest.fixture
def fleet():
    """Pixel (tier 1, budget 50 ms) fast and healthy; Galaxy (tier 2, 120 ms) slow at 150 ms and crashing."""
    c = catalog_make()
    end = hour_floor(timezone.now())
    start = end - timedelta(hours=40)
    pixels = [device_make(c) for _ in range(3)]
    galaxies = [device_make(c, device_model=c.galaxy) for _ in range(2)]
    for hour in range(40):
        at = start + timedelta(hours=hour, minutes=1)
        for device in pixels:
            session_make(c, device=device, at=at, samples=[10.0, 12.0], accelerated=1.0)
        for device in galaxies:
            s = session_make(c, device=device, at=at, samples=[150.0, 155.0], model_version=c.v2, accelerated=1.0)
            if hour % 10 == 0:
                crash_make(c, session=s)
    rollup_range_compute(start=start, end=end + timedelta(hours=1))
    c.new_group = crash_group_make(c, devices=galaxies, title="new one")
    return c


def test_home_cards_come_from_the_one_kpi_selector(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/?range=24h")
    scope = response.context["scope"]
    expected = selectors.kpis_get(start=scope.time_range.start, end=scope.time_range.end, filters={})
    assert_same_kpis(response.context["kpis"], expected)
    cards = {card.key: card for card in response.context["cards"]}
    assert set(cards) == {
        "p95_latency", "crash_free", "errors_per_1k", "accelerator", "memory", "adoption", "lab_coverage",
        "benchmark_cv",
    }  # fmt: skip
    assert cards["p95_latency"].status == "missed"  # the Galaxy misses its tier-2 budget
    assert "Galaxy" in cards["p95_latency"].note
    assert cards["crash_free"].status == "missed" and cards["crash_free"].trend
    assert response.context["counts"]["devices"] == 6 - 1  # counts cards kept (5 fleet devices)


def test_worst_cohorts_rank_by_affected_devices_and_link_to_the_filtered_fleet(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/?range=24h")
    worst = response.context["worst_cohorts"]
    assert [row["device_model"].slug for row in worst] == ["samsung-galaxy-a54"]
    assert "p95_latency_ms" in worst[0]["misses"]
    assert b"device_model=samsung-galaxy-a54&model=yolov8n&model_version=1.5.0" in response.content


def test_filters_apply_to_every_figure_on_home(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/?range=24h&device_model=google-pixel-8")
    cards = {card.key: card for card in response.context["cards"]}
    assert cards["p95_latency"].status == "met"
    assert response.context["worst_cohorts"] == []
    assert "device_model=google-pixel-8" in response.context["query_string"]


def test_new_crash_groups_and_lab_coverage_show_on_home(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/?range=24h")
    assert [g.pk for g in response.context["crash_groups"]] == [fleet.new_group.pk]
    coverage = next(card for card in response.context["cards"] if card.key == "lab_coverage")
    # Two active pairs (Pixel on 1.4.0, Galaxy on 1.5.0) and no lab run: field evidence does not count.
    assert (coverage.value, coverage.display, coverage.status) == (0.0, "0%", "missed")
    assert coverage.note.startswith("0 of 2 active model version × device model pairs")


def test_home_query_count_is_bounded(client, viewer_user, fleet, django_assert_max_num_queries):
    client.force_login(viewer_user)
    client.get("/?range=30d")
    # 45 for the fleet figures, plus the release KPI cards' (15 at most, fewer without rollouts in range)
    with django_assert_max_num_queries(60):
        assert client.get("/?range=30d").status_code == 200


def test_the_worst_device_model_is_the_one_furthest_past_its_own_target():
    # 36 % over a 50 ms budget beats 20 % over a 250 ms budget, whatever the order of the breakdown.
    rows = [("a", "A", 68.0, 50.0), ("b", "B", 300.0, 250.0), ("c", "C", 40.0, 50.0)]
    for ordered in (rows, rows[::-1]):
        judged = per_device_model_judge(ordered, "ms")
        assert (judged.status, judged.worst.device_model, judged.worst.ratio) == ("missed", "a", 68.0 / 50.0)
        assert judged.worst.text == "worst: A at 68 of 50 ms (136% of its target)"


def test_a_fleet_within_its_targets_still_names_its_closest_device_model():
    judged = per_device_model_judge([("a", "A", 20.0, 50.0), ("b", "B", 100.0, 120.0), ("c", "C", None, 50.0)], "ms")
    assert (judged.status, judged.worst.device_model) == ("met", "b")
    assert per_device_model_judge([("c", "C", None, 50.0)], "ms").worst is None


def test_share_trends_are_in_percentage_points(client, viewer_user, fleet):
    client.force_login(viewer_user)
    cards = {card.key: card for card in client.get("/?range=24h").context["cards"]}
    trend = cards["crash_free"].trend
    assert trend.unit == "share" and trend.delta is not None and trend.text.endswith(" pp vs previous period")


def test_home_query_count_is_pinned_whatever_the_sessions(client, viewer_user, fleet, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(viewer_user)
    client.get("/")  # the default 7 calendar days
    with CaptureQueriesContext(connection) as first:
        assert client.get("/").status_code == 200
    assert len(first) == HOME_QUERIES
    # More history: another day of sessions on more devices, some lacking a field or falling back to the CPU.
    start = hour_floor(timezone.now()) - timedelta(days=3)
    for device in [device_make(fleet) for _ in range(4)]:
        for hour in range(24):
            session_make(fleet, device=device, at=start + timedelta(hours=hour), samples=[11.0], rss=None)
    rollup_range_compute(start=start, end=start + timedelta(days=1))
    with CaptureQueriesContext(connection) as second:
        assert client.get("/").status_code == 200
    assert len(second) == len(first)


# The default home page (no rollouts in range): the fleet figures from the trailing windows and rollups, the release
# cards from rollups. 45 → 28: one read of the 7-day window's rows serves the KPIs, the previous period's trends,
# the device-model cards, the worst cohorts (their devices too), lab coverage's cells, runtimes and pair devices,
# the fleet's devices for the regressions' field impact and the observability card; the SLO targets are read once,
# the catalog counts in one query, the filter options in two, the open regressions' count with their list.
# 28 → 27: lead time and defect escape share one read of the rollouts started in range.
HOME_QUERIES = 27
