"""Lab regressions as alerts: one open alert per regression carrying its field impact, ranked by it, auto-resolved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from benchmarks.models import RegressionStatus
from telemetry.alerts.evaluation import alerts_evaluate
from telemetry.alerts.selectors import alerts_by_impact
from telemetry.models import Alert, AlertKpi, AlertRule, AlertStatus

from .conftest import expected_population, lab_run

pytestmark = pytest.mark.django_db


def evaluate(minutes=0):
    return alerts_evaluate(now=timezone.now() + timedelta(minutes=minutes))


@pytest.fixture
def rule(planted):
    return AlertRule.objects.get(kpi=AlertKpi.LAB_REGRESSION)  # the default rule (telemetry migration 0018)


def open_alerts(*rules):
    return list(alerts_by_impact(Alert.objects.filter(status=AlertStatus.OPEN, rule__in=rules)))


def test_each_open_regression_opens_one_alert_with_its_field_impact_ranked_by_it(planted, rule):
    # 72 h: the planted field sessions are a day and a few minutes old, whatever the time of day the test runs at.
    kpi_rule = AlertRule.objects.create(
        name="p95", kpi=AlertKpi.P95_LATENCY_MS, threshold=0.001, min_sessions=1, window_hours=72
    )
    evaluate()
    crowd, lab_only = (planted.regressions[name] for name in ("crowd", "lab_only"))
    alerts = open_alerts(rule, kpi_rule)
    ours = [a for a in alerts if a.rule == rule]
    assert [a.cohort_key for a in ours] == [f"regression:{crowd.pk}", f"regression:{lab_only.pk}"]
    devices, per_day, share = expected_population(planted, "crowd")
    assert devices == 120
    assert (ours[0].field_devices, ours[0].field_sessions_per_day) == (120, pytest.approx(per_day))
    assert ours[0].fleet_share == pytest.approx(share)
    assert (ours[1].field_devices, ours[1].field_sessions_per_day) == (0, 0.0)
    # Ordering with the KPI alerts: reaching the field first, KPI alerts next, no field population last.
    assert alerts[0].cohort_key == f"regression:{crowd.pk}" and alerts[-1].cohort_key == f"regression:{lab_only.pk}"
    assert {a.rule for a in alerts[1:-1]} == {kpi_rule}


def test_the_home_page_ranks_regression_alerts_and_says_no_field_population(planted, rule, client, viewer_user):
    evaluate()
    client.force_login(viewer_user)
    html = client.get("/").content.decode()
    section = html[html.index('id="alerts-h"') :]
    assert "120 active devices" in section and "no field population" in section
    assert section.index("120 active devices") < section.index("no field population")


def test_a_second_round_refreshes_the_same_alert(planted, rule):
    evaluate()
    first = {a.cohort_key: a.pk for a in open_alerts(rule)}
    assert len(first) == 2
    result = evaluate(minutes=10)
    assert not [key for key in result.opened if key.startswith("regression:")]
    assert {a.cohort_key: a.pk for a in open_alerts(rule)} == first
    assert Alert.objects.filter(rule=rule).count() == 2


def test_triaged_and_baseline_absorbed_regressions_resolve_their_alert(planted, rule):
    evaluate()
    crowd, lab_only = planted.regressions["crowd"], planted.regressions["lab_only"]
    lab_only.status = RegressionStatus.FIXED
    lab_only.save()
    series = crowd.series
    series.baseline_run = lab_run(planted, "crowd", p50=8.0, p95=12.0, days_ago=0)  # a baseline at/after the change
    series.save()
    result = evaluate(minutes=10)
    assert {f"regression:{crowd.pk}", f"regression:{lab_only.pk}"} <= set(result.resolved)
    assert open_alerts(rule) == []


PAGE, API = "/fleet/alerts/", "/api/v1/telemetry/alerts/"


def test_the_alert_page_and_api_rank_by_impact(planted, rule, client, viewer_user, read_client):
    evaluate()
    crowd, lab_only = planted.regressions["crowd"], planted.regressions["lab_only"]
    rows = [r for r in read_client.get(API).json()["results"] if r["kpi"] == AlertKpi.LAB_REGRESSION]
    assert [r["cohort_key"] for r in rows] == [f"regression:{crowd.pk}", f"regression:{lab_only.pk}"]
    devices, per_day, share = expected_population(planted, "crowd")
    assert rows[0]["field_population"] == {
        "in_field": True, "active_devices": 120, "sessions_per_day": pytest.approx(per_day),
        "fleet_share": pytest.approx(share),
    }  # fmt: skip
    assert rows[1]["field_population"] == {"in_field": False, "active_devices": 0, "sessions_per_day": 0.0,
                                           "fleet_share": 0.0}  # fmt: skip
    client.force_login(viewer_user)
    html = client.get(PAGE).content.decode()
    rows = html[html.index("<tbody>") :]
    assert rows.index("120 active devices") < rows.index("no field population")


def test_a_bad_status_is_a_400(planted, client, viewer_user, read_client):
    assert read_client.get(API, {"status": "nope"}).status_code == 400
    client.force_login(viewer_user)
    assert client.get(PAGE, {"status": "nope"}).status_code == 400


def test_alert_list_query_counts_do_not_grow_with_alerts(planted, rule, client, viewer_user, read_client,
                                                         django_assert_num_queries):  # fmt: skip
    client.force_login(viewer_user)
    evaluate()
    read_client.get(API)  # the key's first use this minute also records its last use: measure from the second
    with django_assert_num_queries(PAGE_QUERIES):
        client.get(PAGE)
    with django_assert_num_queries(API_QUERIES):
        read_client.get(API)
    for i in range(3):
        AlertRule.objects.create(
            name=f"extra {i}", kpi=AlertKpi.P95_LATENCY_MS, threshold=0.001, min_sessions=1, window_hours=72
        )
    evaluate(minutes=10)
    assert Alert.objects.filter(status=AlertStatus.OPEN).count() > 6
    with django_assert_num_queries(PAGE_QUERIES):
        client.get(PAGE)
    with django_assert_num_queries(API_QUERIES):
        read_client.get(API)


PAGE_QUERIES, API_QUERIES = 5, 3  # as measured; neither grows with the alerts
