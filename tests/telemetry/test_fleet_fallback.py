"""The fleet page's CPU-fallback figures (telemetry/fleet/fallback.py): exact from the fallback rollups, equal to a
brute-force count over the raw sessions for every range and filter the rollups carry, in one query that never reads
the raw session table; a bounded raw sample (said so on the page) for the app and OS version filters they lack."""

import json
import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from telemetry.fleet import fallback as fleet_fallback
from telemetry.fleet.fallback import fallback_ops_get
from telemetry.kpi.buckets import day_floor, hour_ceil, hour_floor
from telemetry.kpi.scope import time_range_parse
from telemetry.models import InferenceSession
from telemetry.rollups.compute import rollup_range_compute

from .fleet_factories import catalog_make, device_make
from .rollup_factories import session_make

pytestmark = pytest.mark.django_db
RAW_TABLE = InferenceSession._meta.db_table
OPS = (["RESIZE_BILINEAR"], ["resize_bilinear", "RESIZE_BILINEAR"], ["CONV_2D"], ["conv_2d", "Softmax"],
       ["TRANSPOSE_CONV", "SOFTMAX", "resize_bilinear"], [], [], [])  # fmt: skip


@pytest.fixture
def fleet():
    """Sessions over the last 60 hours (three UTC days at least) on two device models, both delegates, two model
    versions and two app versions, with fallback ops in mixed case (a session may list an op twice)."""
    rng = random.Random(20)
    c = catalog_make()
    now = timezone.now()
    start = hour_floor(now) - timedelta(hours=60)
    devices = [device_make(c, device_model=c.pixel) for _ in range(3)]
    devices += [device_make(c, device_model=c.galaxy, app_version="3.3.0", os_version="Android 14") for _ in range(2)]
    moments = [start + timedelta(minutes=rng.randrange(60 * 60), microseconds=i) for i in range(260)]  # distinct
    for at in [m for m in moments if m < now] + [now - timedelta(minutes=1)]:
        device = rng.choice(devices)
        session = session_make(
            c, device=device, at=at, samples=[10.0, 20.0], model_version=rng.choice([c.v1, c.v2]),
            delegate=rng.choice([c.gpu, c.cpu]), accelerated=rng.choice([1.0, 0.6, None]),
        )  # fmt: skip
        InferenceSession.objects.filter(pk=session.pk).update(fallback_ops=rng.choice(OPS))
    rollup_range_compute(start=start, end=hour_floor(now) + timedelta(hours=1))
    c.now = now
    return c


def brute_force(*, start, end, keep=lambda s: True, limit=10):
    """(ops as (op, sessions, share), sessions, distinct ops) from the raw rows, upper-cased, once per session."""
    rows = [s for s in InferenceSession.objects.select_related("device_model", "model_version__ml_model", "delegate")
            if start <= s.started_at < end and keep(s)]  # fmt: skip
    counts: dict[str, int] = {}
    for s in rows:
        for op in {str(op).upper() for op in s.fallback_ops or []}:
            counts[op] = counts.get(op, 0) + 1
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(op, n, n / len(rows)) for op, n in top], len(rows), len(counts)


def as_tuples(got):
    return [(o.op, o.sessions, o.share) for o in got.ops], got.sessions, got.ops_total


SCOPES = {
    "all": ({}, lambda s: True),
    "device model": ({"device_model": "samsung-galaxy-a54"}, lambda s: s.device_model.slug == "samsung-galaxy-a54"),
    "vendor": ({"vendor": "google"}, lambda s: s.device_model.vendor == "Google"),
    "tier": ({"tier": 1}, lambda s: s.device_model.tier == 1),
    "delegate": ({"delegate": "cpu"}, lambda s: s.delegate.slug == "cpu"),
    "cohort": (
        {"device_model": "google-pixel-8", "model": "yolov8n", "model_version": "1.5.0", "delegate": "gpu"},
        lambda s: (
            (s.device_model.slug, s.model_version.ml_model.slug, s.model_version.version, s.delegate.slug)
            == ("google-pixel-8", "yolov8n", "1.5.0", "gpu")
        ),
    ),
}


def test_ops_equal_a_brute_force_count_over_raw_sessions_in_one_query_without_raw_rows(fleet):
    # One fleet for every range × scope: building it (260 sessions rolled up over 61 hours) is the test's cost.
    ranges = {key: time_range_parse(params={"range": key}, now=fleet.now) for key in ("24h", "7d", "30d")}
    ranges = {key: (r.start, r.end) for key, r in ranges.items()}
    # Edge hours on both sides of a whole day, ending in the past.
    ranges["hours"] = (day_floor(fleet.now) - timedelta(hours=37), day_floor(fleet.now) - timedelta(hours=2))
    for range_key, (start, end) in ranges.items():
        for scope, (filters, keep) in SCOPES.items():
            with CaptureQueriesContext(connection) as queries:
                got = fallback_ops_get(start=start, end=end, filters=filters)
            assert len(queries.captured_queries) == 1, (range_key, scope)
            assert RAW_TABLE not in queries.captured_queries[0]["sql"]
            # The page reads the range snapped to whole hours, as every KPI read does.
            want = brute_force(start=hour_floor(start), end=hour_ceil(end), keep=keep)
            assert as_tuples(got) == want, (range_key, scope)
            assert not got.is_sample and want[1] > 0 and want[0], (range_key, scope)


def test_the_top_ops_come_first_with_how_many_ops_there_are(fleet):
    got = fallback_ops_get(start=fleet.now - timedelta(days=7), end=fleet.now, filters={}, limit=2)
    want_ops, sessions, ops_total = brute_force(start=hour_floor(fleet.now - timedelta(days=7)),
                                                end=hour_ceil(fleet.now), limit=2)  # fmt: skip
    assert [(o.op, o.sessions) for o in got.ops] == [(op, n) for op, n, _ in want_ops]
    assert len(got.ops) == 2 and got.ops_total == ops_total == 4  # RESIZE_BILINEAR, CONV_2D, SOFTMAX, TRANSPOSE_CONV


def test_a_scope_without_sessions_has_no_ops(fleet):
    got = fallback_ops_get(start=fleet.now - timedelta(days=400), end=fleet.now - timedelta(days=300), filters={})
    assert (got.ops, got.sessions, got.ops_total) == ([], 0, 0)


@pytest.mark.parametrize(
    "filters, keep",
    [
        ({"app_version": "3.3.0"}, lambda s: s.app_version == "3.3.0"),
        ({"os_version": "Android 15", "delegate": "gpu"}, lambda s: s.os_version == "Android 15" and s.delegate.slug == "gpu"),
    ],
)  # fmt: skip
def test_filters_the_rollups_lack_read_the_newest_sessions_of_the_last_24_hours(fleet, filters, keep, monkeypatch):
    monkeypatch.setattr(fleet_fallback, "SAMPLE_SESSIONS", 20)
    start, end = fleet.now - timedelta(days=7), fleet.now
    got = fallback_ops_get(start=start, end=end, filters=filters)
    since = end - timedelta(hours=24)
    rows = InferenceSession.objects.select_related("delegate")
    newest = sorted((s for s in rows if since <= s.started_at < end and keep(s)), key=lambda s: s.started_at)[::-1][:20]
    counts: dict[str, int] = {}
    for s in newest:
        for op in {op.upper() for op in s.fallback_ops}:
            counts[op] = counts.get(op, 0) + 1
    assert len(newest) == 20  # the bound bites
    assert got.is_sample and got.sampled_by == tuple(name for name in ("app_version", "os_version") if name in filters)
    assert got.sessions == 20 and got.ops_total == len(counts)
    assert [(o.op, o.sessions, o.share) for o in got.ops] == [
        (op, n, n / 20) for op, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def test_the_page_shows_the_exact_figures_and_never_reads_raw_sessions(client, viewer_user, fleet):
    client.force_login(viewer_user)
    client.get("/fleet/?range=30d")  # warm sessions / content types
    for url in ("/fleet/?range=30d", "/fleet/?range=30d&device_model=google-pixel-8&model=yolov8n&model_version=1.5.0"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert not [q["sql"] for q in queries.captured_queries if RAW_TABLE in q["sql"]], url
    response = client.get("/fleet/?range=30d")
    scope = response.context["scope"].time_range
    want_ops, sessions, _ = brute_force(start=scope.start, end=scope.end)
    assert as_tuples(response.context["fallback"])[:2] == (want_ops, sessions)
    html = response.content.decode()
    top_op, top_n, _ = want_ops[0]
    assert f'<td>{top_op}</td><td class="num">{top_n:,}</td>' in html
    assert f"Exact over the range: {sessions:,} sessions in scope" in html
    chart = next(c for c in response.context["charts"] if c.chart_id == "chart-fallback-ops")
    assert chart.figure["data"][0]["y"][-1] == top_op and chart.figure["data"][0]["x"][-1] == top_n


def test_the_page_says_when_a_filter_sends_the_figures_to_the_sample(client, viewer_user, fleet):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d&app_version=3.3.0")
    assert response.context["fallback"].is_sample
    assert "The fallback rollups do not carry app version, so with this filter" in response.content.decode()
    both = client.get("/fleet/?range=7d&app_version=3.3.0&os_version=Android+14").content.decode()
    assert "do not carry app version or OS version, so with these filters" in both


@pytest.mark.parametrize(
    "url, queries",
    [
        ("/fleet/?range=30d", 16),
        ("/fleet/?range=30d&device_model=google-pixel-8&model=yolov8n&model_version=1.5.0", 25),
    ],
)
def test_the_fleet_page_query_count_is_pinned(client, viewer_user, fleet, url, queries, django_assert_num_queries):
    client.force_login(viewer_user)
    client.get(url)  # warm sessions / content types
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200


def test_a_device_model_scope_reads_its_tier_and_memory_budget_in_one_query(client, viewer_user, fleet):
    client.force_login(viewer_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/fleet/?range=30d&device_model=google-pixel-8")
    reads = [q["sql"] for q in queries.captured_queries if "memory_budget_mb" in q["sql"]]
    assert len(reads) == 1 and '"tier"' in reads[0]
    assert response.context["latency_budget_ms"] == response.context["targets"].p95_latency_ms(1)  # Pixel 8: tier 1
    memory = next(c for c in response.context["charts"] if c.chart_id == "chart-memory")
    assert "budget 400 MB" in json.dumps(memory.figure)
