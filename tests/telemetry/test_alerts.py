import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from telemetry.alerts import evaluation as alerts
from telemetry.alerts import notifications
from telemetry.kpi.buckets import hour_floor
from telemetry.models import Alert, AlertRule
from telemetry.rollups.compute import rollup_range_compute
from telemetry.tasks import alerts_evaluate_task

from .fleet_factories import catalog_make, device_make
from .rollup_factories import crash_make, session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    """Galaxy cohort crashes in 1 of 5 sessions (40 sessions); Pixel cohort is healthy; a tiny v2 cohort crashes too."""
    c = catalog_make()
    c.now = hour_floor(timezone.now()) + timedelta(minutes=30)
    galaxy, pixel = device_make(c, device_model=c.galaxy), device_make(c)
    for i in range(40):
        at = c.now - timedelta(hours=10, minutes=-i)
        s = session_make(c, device=galaxy, at=at, samples=[20.0], accelerated=1.0)
        if i % 5 == 0:
            crash_make(c, session=s)
        session_make(c, device=pixel, at=at, samples=[20.0], accelerated=1.0)
    tiny = session_make(c, device=pixel, at=c.now - timedelta(hours=9), samples=[20.0], model_version=c.v2)
    crash_make(c, session=tiny)
    rollup_range_compute(start=c.now - timedelta(hours=12), end=c.now)
    AlertRule.objects.all().delete()  # the default rules from the data migration; each test makes its own
    c.rule = AlertRule.objects.create(name="crash-free", kpi="crash_free_sessions")
    return c


def test_a_cohort_missing_its_target_with_enough_sessions_opens_one_alert(fleet):
    result = alerts.alerts_evaluate(now=fleet.now)
    alert = Alert.objects.get()
    assert result.opened == [alert.cohort_key]
    assert "Galaxy" in alert.cohort_label and alert.status == "open"
    assert alert.value == pytest.approx(0.8) and alert.threshold == 0.995 and alert.sessions == 40
    assert alert.cohort_filters["device_model"] == "samsung-galaxy-a54"


def test_the_next_round_refreshes_the_open_alert_instead_of_opening_another(fleet):
    alerts.alerts_evaluate(now=fleet.now)
    later = alerts.alerts_evaluate(now=fleet.now + alerts.MIN_INTERVAL)
    assert later.opened == [] and later.refreshed == 1
    assert Alert.objects.count() == 1


def test_a_second_worker_in_the_same_round_finds_the_rule_claimed(fleet):
    first = alerts.alerts_evaluate(now=fleet.now)
    second = alerts.alerts_evaluate(now=fleet.now + timedelta(seconds=5))
    assert first.rules == 1 and second.rules == 0 and second.skipped_rules == 1
    assert Alert.objects.count() == 1


def test_the_database_refuses_a_second_open_alert_for_the_same_cohort(fleet):
    alerts.alerts_evaluate(now=fleet.now)
    alert = Alert.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(rule=alert.rule, cohort_key=alert.cohort_key, cohort_label="dup", value=0, threshold=0)


def test_alert_resolves_itself_when_the_cohort_is_healthy_again(fleet):
    alerts.alerts_evaluate(now=fleet.now)
    AlertRule.objects.filter(pk=fleet.rule.pk).update(threshold=0.5)  # an admin relaxes the threshold
    result = alerts.alerts_evaluate(now=fleet.now + alerts.MIN_INTERVAL)
    alert = Alert.objects.get()
    assert result.resolved == [alert.cohort_key]
    assert alert.status == "resolved" and alert.resolved_at is not None
    AlertRule.objects.filter(pk=fleet.rule.pk).update(threshold=None)
    again = alerts.alerts_evaluate(now=fleet.now + 2 * alerts.MIN_INTERVAL)
    assert len(again.opened) == 1 and Alert.objects.filter(status="open").count() == 1  # a new episode


def test_latency_rule_uses_the_device_tier_budget_by_default(fleet):
    AlertRule.objects.create(name="latency", kpi="p95_latency_ms", threshold=None)
    alerts.alerts_evaluate(now=fleet.now)
    assert not Alert.objects.filter(rule__kpi="p95_latency_ms").exists()  # 20 ms is within every tier budget
    AlertRule.objects.filter(kpi="p95_latency_ms").update(threshold=15.0, last_evaluated_at=None)
    alerts.alerts_evaluate(now=fleet.now + alerts.MIN_INTERVAL)
    assert Alert.objects.filter(rule__kpi="p95_latency_ms").count() == 2  # both big cohorts


def test_the_periodic_task_runs_the_evaluation(fleet):
    AlertRule.objects.filter(pk=fleet.rule.pk).update(window_hours=48)
    alerts_evaluate_task.delay()
    assert Alert.objects.filter(status="open").count() == 1


class _Receiver(BaseHTTPRequestHandler):
    bodies: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server API)
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(monkeypatch):
    """A stub webhook receiver on localhost (the real one is outside the project)."""
    monkeypatch.setattr(notifications, "WEBHOOK_BACKOFF_S", 0)
    handler = type("Receiver", (_Receiver,), {"bodies": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield handler
    server.shutdown()


def test_webhook_is_sent_once_for_opening_and_once_for_resolving(fleet, receiver):
    AlertRule.objects.filter(pk=fleet.rule.pk).update(webhook_url=receiver.url)
    alerts.alerts_evaluate(now=fleet.now)
    alerts.alerts_evaluate(now=fleet.now + alerts.MIN_INTERVAL)
    assert [b["event"] for b in receiver.bodies] == ["alert.opened"]
    assert receiver.bodies[0]["cohort_filters"]["device_model"] == "samsung-galaxy-a54"
    AlertRule.objects.filter(pk=fleet.rule.pk).update(threshold=0.5)
    alerts.alerts_evaluate(now=fleet.now + 2 * alerts.MIN_INTERVAL)
    assert [b["event"] for b in receiver.bodies] == ["alert.opened", "alert.resolved"]


def test_failing_webhook_is_retried_then_unclaimed_for_the_next_round(fleet, receiver):
    receiver.status = 503
    AlertRule.objects.filter(pk=fleet.rule.pk).update(webhook_url=receiver.url)
    alerts.alerts_evaluate(now=fleet.now)
    alert = Alert.objects.get()
    assert len(receiver.bodies) == notifications.WEBHOOK_ATTEMPTS
    assert alert.notified_open_at is None and alert.delivery_error == "HTTP 503" and alert.delivery_attempts == 1
    receiver.status = 200
    assert alerts.alert_webhooks_deliver() == 1
    alert.refresh_from_db()
    assert alert.notified_open_at is not None and alert.delivery_error == ""


def test_open_alerts_show_on_home(client, viewer_user, fleet):
    alerts.alerts_evaluate(now=fleet.now)
    client.force_login(viewer_user)
    response = client.get("/")
    assert [a.pk for a in response.context["alerts"]] == [Alert.objects.get().pk]
    assert b"Open alerts" in response.content


def test_a_registered_source_judges_its_rules_through_the_same_open_and_resolve(fleet, monkeypatch):
    from telemetry.alerts import sources

    key = f"{fleet.pixel.pk}|{fleet.v1.pk}|{fleet.tflite_216.pk}|{fleet.gpu.pk}"
    finding = sources.AlertFinding(key=key, label="drifting", filters={}, value=20.0, threshold=10.0, sessions=40)
    verdicts = iter([
        sources.SourceVerdict(findings=[finding], present={key}),
        sources.SourceVerdict(findings=[finding], present={key}),
        sources.SourceVerdict(present={key}),  # too little evidence either way: stays open
        sources.SourceVerdict(healthy={key}, present={key}),
    ])  # fmt: skip
    monkeypatch.setitem(sources._sources, "delegate_fallback_drift", lambda rule, now: next(verdicts))
    fleet.rule.delete()
    rule = AlertRule.objects.create(name="drift", kpi="delegate_fallback_drift")
    rounds = [alerts.alerts_evaluate(now=fleet.now + i * alerts.MIN_INTERVAL) for i in range(4)]
    assert [(r.opened, r.refreshed, r.resolved) for r in rounds] == [
        ([key], 0, []), ([], 1, []), ([], 0, []), ([], 0, [key])
    ]  # fmt: skip
    alert = Alert.objects.get(rule=rule)
    assert (alert.value, alert.threshold, alert.sessions, alert.status) == (20.0, 10.0, 40, "resolved")


def test_a_source_rule_without_its_app_is_skipped_and_its_alerts_stay(fleet, monkeypatch):
    from telemetry.alerts import sources

    monkeypatch.delitem(sources._sources, "delegate_fallback_drift", raising=False)
    fleet.rule.delete()
    rule = AlertRule.objects.create(name="drift", kpi="delegate_fallback_drift")
    Alert.objects.create(rule=rule, cohort_key="1|1|1|1", cohort_label="x", value=20.0, threshold=10.0)
    result = alerts.alerts_evaluate(now=fleet.now)
    assert result.rules == 1 and result.opened == result.resolved == []
    assert Alert.objects.get(rule=rule).status == "open"
