"""Release KPI cards on the home page and in /api/v1/home/: each figure against a computation from the raw rows the
test made, its status against the admin-edited target, and a drill-down listing the rows behind it."""

import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from rollouts.models import ReleaseKpiTarget, Rollout, RolloutDecision
from tests.rollouts.factories import catalog_make, devices_make, sessions_make

pytestmark = pytest.mark.django_db
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
WINDOW = "range=custom&from=2026-11-01&to=2026-11-30"  # a bare `to` date runs through that day: [START, END)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def rolled_up(settings) -> None:
    """Rolls up every hour holding a session: the fallback and coverage cards read rollups, as of the last run."""
    from telemetry.models import InferenceSession
    from telemetry.rollups.compute import rollup_hours_compute

    settings.RAW_RETENTION_DAYS = 3650  # the fixture's November must stay inside retention whatever today is
    rollup_hours_compute(hours=set(InferenceSession.objects.values_list("started_at", flat=True)), push_evidence=False)


@pytest.fixture
def release(settings):
    """Two ended rollouts (one completed, one rolled back by the guardrails), one running without field sessions,
    two resolved alerts and a resolved crash group, a failed lab run before a rollout, four active devices (one
    with a session lacking peak RSS, one reporting a CPU fallback op)."""
    from benchmarks.models import BenchmarkRun, BenchmarkSeries
    from telemetry.models import Alert, AlertRule, CrashGroup, CrashGroupAuditEvent

    c = catalog_make()
    created = {c.v2: START + timedelta(days=1), c.v3: START + timedelta(days=2), c.m2: START + timedelta(days=9)}
    for version, at in created.items():
        type(version).objects.filter(pk=version.pk).update(first_seen_at=at)
    c.rollouts = [
        Rollout.objects.create(name=name, ml_model=version.ml_model, baseline_version=baseline,
                               candidate_version=version, stages=[{"percent": 100}], status=status,
                               started_at=started, ended_at=ended)
        for name, version, baseline, status, started, ended in (
            ("good", c.v2, c.v1, "completed", START + timedelta(days=2), START + timedelta(days=5)),
            ("bad", c.v3, c.v1, "rolled_back", START + timedelta(days=3), START + timedelta(days=6)),
            ("fresh", c.m2, c.m1, "running", START + timedelta(days=10), None),
        )
    ]  # fmt: skip
    RolloutDecision.objects.create(rollout=c.rollouts[1], action="rollback", actor="guardrails", automatic=True)
    c.devices = devices_make(c, count=4)
    rng = np.random.default_rng(5)
    c.first_sessions = {c.v2: START + timedelta(days=2, hours=6), c.v3: START + timedelta(days=3, hours=12)}
    for device, (version, at) in zip(c.devices, c.first_sessions.items(), strict=False):
        sessions_make(c, devices=[device], version=version, per_device=1, started_at=at, rng=rng)
    sessions_make(c, devices=c.devices, version=c.v1, per_device=2, started_at=START + timedelta(days=12), rng=rng)
    from telemetry.models import InferenceSession

    first_of_third = InferenceSession.objects.filter(device=c.devices[2]).order_by("id").first()
    InferenceSession.objects.filter(pk=first_of_third.pk).update(peak_rss_mb=None)
    first_of_fourth = InferenceSession.objects.filter(device=c.devices[3]).order_by("id").first()
    InferenceSession.objects.filter(pk=first_of_fourth.pk).update(fallback_ops=["RESIZE_BILINEAR"])
    rule = AlertRule.objects.create(name="crash-free", kpi="crash_free_sessions", threshold=0.99)
    for i, hours in enumerate((2.0, 9.0)):
        opened = START + timedelta(days=4 + i)
        Alert.objects.create(rule=rule, cohort_key=f"1|999|1|{i}", cohort_label="x", value=0.9, threshold=0.99,
                             opened_at=opened, status="resolved", resolved_at=opened + timedelta(hours=hours))  # fmt: skip
    seen = START + timedelta(days=7)
    c.group = CrashGroup.objects.create(
        fingerprint="a" * 64, title="SIGSEGV in gpu delegate", kind="native", first_seen_at=seen, last_seen_at=seen
    )
    CrashGroupAuditEvent.objects.create(crash_group=c.group, action="resolve", actor_name="sam",
                                        created_at=START + timedelta(days=7, hours=5))  # fmt: skip
    series = BenchmarkSeries.objects.create(
        key="s" * 64, ml_model=c.yolo, runtime=c.tflite, delegate=c.gpu, device_model=c.pixel
    )
    BenchmarkRun.objects.create(series=series, model_version=c.v3, runtime_version=c.tflite_216, delegate=c.gpu,
                                device_model=c.pixel, status="failed", ran_at=START + timedelta(days=2, hours=1))  # fmt: skip
    c.created = created
    rolled_up(settings)
    return c


def expected_figures(c) -> dict[str, float]:
    """The six figures recomputed in Python from the raw rows (no project selector involved)."""
    from telemetry.models import Alert, CrashGroup, InferenceSession

    leads = []
    for rollout in Rollout.objects.filter(started_at__gte=START, started_at__lt=END):
        after = [
            s.started_at
            for s in InferenceSession.objects.all()
            if s.model_version_id == rollout.candidate_version_id and s.started_at >= rollout.started_at
        ]
        if after:
            leads.append(_hours(min(after) - c.created[rollout.candidate_version]))
    ended = [r for r in Rollout.objects.all() if r.ended_at and START <= r.ended_at < END]
    incidents = [_hours(a.resolved_at - a.opened_at) for a in Alert.objects.all()]
    for group in CrashGroup.objects.all():
        resolved = min(e.created_at for e in group.audit_events.all() if e.action == "resolve")
        incidents.append(_hours(resolved - group.first_seen_at))
    sessions = list(InferenceSession.objects.all())
    active = {s.device_id for s in sessions}
    lacking = {
        s.device_id
        for s in sessions
        if s.peak_rss_mb is None or s.accelerated_fraction is None or not s.latency_histogram.get("counts")
    }
    # Field: one guardrail rollback; lab: one failed run of the bad candidate before its rollout.
    return {
        "deployment_lead_time": statistics.median(leads),
        "rollout_success_rate": sum(r.status == "completed" for r in ended) / len(ended),
        "mttr": statistics.median(incidents),
        "defect_escape_rate": 1 / (1 + 1),
        "unsupported_operator_incidence": sum(bool(s.fallback_ops) for s in sessions) / len(sessions),
        "observability_coverage": len(active - lacking) / len(active),
    }


def test_release_cards_match_the_raw_rows_and_the_api_carries_the_same(client, viewer_user, release):
    client.force_login(viewer_user)
    page = client.get(f"/?{WINDOW}")
    cards = {card.key: card for card in page.context["release_cards"]}
    expected = expected_figures(release)
    assert expected["deployment_lead_time"] == statistics.median([30.0, 36.0])  # the fixture's own arithmetic
    assert expected["mttr"] == statistics.median([2.0, 9.0, 5.0])
    assert {key: card.value for key, card in cards.items()} == pytest.approx(expected, abs=1e-4)
    assert [cards[key].status for key in expected] == ["met", "missed", "missed", "missed", "missed", "missed"]
    body = client.get(f"/api/v1/home/?{WINDOW}").json()
    api = {card["key"]: card for card in body["release_cards"]}
    for key, card in cards.items():
        assert (api[key]["value"], api[key]["status"], api[key]["display"], api[key]["link"]) == (
            card.value, card.status, card.display, card.link,
        ), key  # fmt: skip
    assert api["mttr"]["unit"] == "hours" and api["rollout_success_rate"]["target"] == 0.9
    content = page.content.decode()
    assert 'id="release-kpi-cards"' in content and "1 of 2 ended rollouts completed" in content


def test_an_admin_edited_target_changes_the_status(client, viewer_user, release):
    ReleaseKpiTarget.objects.update_or_create(kpi="rollout_success_rate", defaults={"target": 0.5})
    ReleaseKpiTarget.objects.update_or_create(kpi="mttr", defaults={"target": 6.0})
    client.force_login(viewer_user)
    cards = {card.key: card for card in client.get(f"/?{WINDOW}").context["release_cards"]}
    assert (cards["rollout_success_rate"].status, cards["rollout_success_rate"].target_text) == ("met", "≥ 50%")
    assert (cards["mttr"].status, cards["mttr"].target_text) == ("met", "≤ 6 h")


def test_the_migration_seeds_one_editable_target_per_release_kpi(admin_client):
    import importlib

    from django.apps import apps

    from rollouts.kpis import RELEASE_KPIS

    # Run the data migration's function itself: a transactional test earlier in the session flushes its rows.
    ReleaseKpiTarget.objects.all().delete()
    importlib.import_module("rollouts.migrations.0002_release_kpi_targets").targets_seed(apps, None)
    seeded = dict(ReleaseKpiTarget.objects.values_list("kpi", "target"))
    assert seeded == {spec.key: spec.default_target for spec in RELEASE_KPIS}
    assert admin_client.get("/admin/rollouts/releasekpitarget/").status_code == 200


@pytest.mark.parametrize(
    "kpi,rows,summary",
    [
        ("deployment_lead_time", ["good", "bad", "fresh"], "median 33.0 h"),
        ("rollout_success_rate", ["good", "bad"], "1 of 2 ended rollouts completed"),
        ("mttr", ["alert", "alert", "crash_group"], "over 3 incidents"),
        ("defect_escape_rate", ["yolov8n 1.5.0", "yolov8n 1.6.0", "mobilenet-v3 2.0"], "1 field defects, 1 lab"),
        ("unsupported_operator_incidence", ["2026-11"], "fallback share over the range 0.1"),
        ("observability_coverage", ["dev-"], "3 of 4 active devices report every field"),
    ],
)
def test_each_card_links_to_the_rows_behind_its_figure(client, viewer_user, release, kpi, rows, summary):
    client.force_login(viewer_user)
    card = next(c for c in client.get(f"/?{WINDOW}").context["release_cards"] if c.key == kpi)
    page = client.get(card.link)
    assert page.status_code == 200
    table = page.context["table"]
    assert len(table) == len(rows)
    first_cells = [row[0]["value"] for row in table]
    texts = [cell["text"] if isinstance(cell, dict) else str(cell) for cell in first_cells]
    assert all(text.startswith(expected) or expected in text for text, expected in zip(texts, rows, strict=True))
    assert summary in page.context["summary"]


def test_drill_down_lists_the_device_lacking_a_field_with_its_link(client, viewer_user, release):
    client.force_login(viewer_user)
    page = client.get(f"/kpis/release/observability_coverage/?{WINDOW}")
    uid = release.devices[2].uid
    assert page.context["table"][0][0]["value"] == {"href": f"/fleet/devices/{uid}/", "text": uid}
    assert page.context["table"][0][3]["value"] == "peak_rss"
    assert client.get("/kpis/release/no-such-kpi/").status_code == 404


def test_release_cards_take_a_fixed_number_of_queries(release, settings, django_assert_num_queries):
    from edgeportal.release_kpis import release_cards_get
    from telemetry.kpi.scope import TimeRange

    window = TimeRange("custom", START, END)
    # targets 1, the rollouts started in range 1 (lead time and escape share them), lead time 1 more, success 1,
    # MTTR 2, escape 5 more (crash groups, alerts, decisions, regressions, failed runs), unsupported-op 2 (fleet days,
    # status changes), coverage 2 (active and lacking device days)
    with django_assert_num_queries(15):
        release_cards_get(time_range=window)
    more = devices_make(release, count=5)
    sessions_make(release, devices=more, version=release.v3, per_device=3, started_at=START + timedelta(days=4),
                  rng=np.random.default_rng(9))  # fmt: skip
    Rollout.objects.create(name="more", ml_model=release.yolo, baseline_version=release.v1,
                           candidate_version=release.v2, stages=[{"percent": 100}], status="rolled_back",
                           started_at=START + timedelta(days=4), ended_at=START + timedelta(days=8))  # fmt: skip
    rolled_up(settings)
    with django_assert_num_queries(15):
        release_cards_get(time_range=window)
