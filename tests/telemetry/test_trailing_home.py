"""What the trailing windows precompute for the home page, each against a brute-force computation from the raw
sessions of the same range: the rows' KPI quantiles, the (model version × device model) pairs' devices, the fleet's
devices lacking a KPI field, the previous period's fleet totals; and that the page's readers serve them.

Late data and a day roll-over for the same figures: test_trailing_incremental.py (its snapshot and brute force
include them).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from edgeportal_client.histogram import LatencyHistogram
from labfield.coverage import lab_coverage
from telemetry.kpi import coverage, selectors
from telemetry.kpi.buckets import hour_floor, range_snap
from telemetry.kpi.kpis import QUANTILE_COLUMNS, Kpis
from telemetry.kpi.reads import grouped_devices
from telemetry.kpi.scope import time_range_parse
from telemetry.kpi.totals import Totals
from telemetry.kpi.trailing import read_span, trailing_ranges
from telemetry.kpi.windows import trailing_range_pairs
from telemetry.models import InferenceSession, TrailingGrain, TrailingRollup
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.trailing import trailing_rollups_rebuild

from .fleet_factories import device_make
from .rollup_factories import exact_quantile, session_make
from .test_trailing_rollups import CELL, brute, fleet, raw_in  # noqa: F401 (fleet: the fixture)

pytestmark = pytest.mark.django_db


def lacks_a_field(s: InferenceSession) -> bool:
    """docs/rollouts.md "Observability coverage", on one raw row."""
    counts = (s.latency_histogram or {}).get("counts")
    return s.model_version_id is None or not counts or s.accelerated_fraction is None or s.peak_rss_mb is None


def raw_quantiles(sessions) -> tuple:
    """(p50, p95, p99 latency, p50, p95 peak RSS) of raw rows: their histograms merged, their RSS values bucketed."""
    rows = list(sessions)
    latency = LatencyHistogram.merged(LatencyHistogram.from_wire(s.latency_histogram) for s in rows)
    rss = LatencyHistogram.from_samples([s.peak_rss_mb for s in rows if s.peak_rss_mb is not None])
    return (*latency.quantiles((0.5, 0.95, 0.99)), *rss.quantiles((0.5, 0.95)))


@pytest.fixture
def lacking(fleet):  # noqa: F811
    """Two devices with a few sessions lacking peak RSS (one today, one four days ago), then the windows rebuilt."""
    now = timezone.now()
    one, two = device_make(fleet, device_model=fleet.pixel), device_make(fleet, device_model=fleet.galaxy)
    hours = [hour_floor(now) - timedelta(minutes=1), now - timedelta(days=4)]
    session_make(fleet, device=one, at=max(hours[0], now.replace(hour=0, minute=0, second=1)), samples=[9.0], rss=None)
    session_make(fleet, device=two, at=hours[1], samples=[80.0], rss=None, model_version=fleet.v2)
    session_make(fleet, device=two, at=hours[1], samples=[85.0])
    rollup_hours_compute(hours=set(InferenceSession.objects.values_list("started_at", flat=True)), push_evidence=False)
    return fleet


def window_rows(window: str, now=None):
    start, end = trailing_ranges(now or timezone.now())[window]
    span_start, span_end = read_span(start, end)
    return (start, end), TrailingRollup.objects.filter(window=window, bucket_start=span_start, range_end=span_end)


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_each_rows_stored_quantiles_are_its_raw_sessions_quantiles(lacking, window):
    (start, end), rows = window_rows(window)
    raw = raw_in(start, end)
    for row in rows.exclude(grain=TrailingGrain.PAIR):
        scope = {f: getattr(row, f) for f in CELL if getattr(row, f) is not None}
        stored = tuple(getattr(row, name) for name in QUANTILE_COLUMNS)
        # The one definition: what Kpis computes from the row's own histograms...
        totals = Totals()
        totals.add_histogram(row.latency_histogram)
        totals.add_histogram(row.peak_rss_histogram, rss=True)
        kpis = Kpis.from_totals(totals, start=start, end=end)
        assert stored == tuple(getattr(kpis, name) for name in QUANTILE_COLUMNS), (row.grain, scope)
        # ...which is the raw sessions' merged histograms' quantiles, and within 1 % of the exact RSS samples'.
        sessions = raw.filter(**scope)
        assert stored == pytest.approx(raw_quantiles(sessions), rel=1e-9), (row.grain, scope)
        rss = sorted(s for s in sessions.values_list("peak_rss_mb", flat=True) if s is not None)
        assert abs(row.peak_rss_mb_p95 - exact_quantile(rss, 0.95)) <= 0.01 * exact_quantile(rss, 0.95) * (1 + 1e-9)


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_pair_rows_hold_each_pairs_raw_sessions_and_distinct_devices(lacking, window):
    (start, end), rows = window_rows(window)
    raw = raw_in(start, end)
    pairs = {(r.model_version_id, r.device_model_id): r for r in rows.filter(grain=TrailingGrain.PAIR)}
    assert pairs.keys() == set(raw.values_list("model_version_id", "device_model_id").distinct())
    for (mv, dm), row in pairs.items():
        want = brute(raw.filter(model_version_id=mv, device_model_id=dm))
        assert (row.sessions, row.devices) == (want["sessions"], want["devices"]), (window, mv, dm)
    # A device on two model versions of one device model is one device in each pair, and once in the device model.
    assert sum(r.devices for r in pairs.values()) >= rows.get(grain=TrailingGrain.FLEET).devices


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_the_fleet_row_counts_the_devices_lacking_a_kpi_field_and_the_card_reads_it(lacking, window):
    (start, end), rows = window_rows(window)
    raw = list(raw_in(start, end))
    active = {s.device_id for s in raw}
    lacking_ids = {s.device_id for s in raw if lacks_a_field(s)}
    assert rows.get(grain=TrailingGrain.FLEET).lacking_devices == len(lacking_ids)
    assert lacking_ids  # the fixture plants some in every window
    with CaptureQueriesContext(connection) as queries:
        figures = coverage.observability_devices(start=start, end=end)
    assert figures == (len(active), len(active - lacking_ids))
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "telemetry_trailingrollup" in sql and "telemetry_devicelackingday" not in sql


@pytest.mark.parametrize("window", ["24h", "7d", "30d"])
def test_the_previous_period_row_holds_the_raw_sessions_of_the_pages_previous_period(lacking, window):
    now = timezone.now()
    previous = time_range_parse(params={"range": window}, now=now).previous
    start, end = range_snap(previous.start, previous.end)
    assert trailing_range_pairs(now)[window][1] == (start, end)
    row = TrailingRollup.objects.get(window=window, grain=TrailingGrain.PREVIOUS)
    assert (row.bucket_start, row.range_end) == (start, end)
    raw = raw_in(start, end)
    want = brute(raw)
    del want["devices"]  # not counted: the trends need none
    assert {name: getattr(row, name) for name in want} == want
    assert (row.p95_latency_ms, row.peak_rss_mb_p95) == pytest.approx(raw_quantiles(raw)[1::3])
    with CaptureQueriesContext(connection) as queries:
        kpis = selectors.kpis_get(start=previous.start, end=previous.end, count_devices=False)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "telemetry_trailingrollup" in sql and "fleetrollup" not in sql
    assert {name: getattr(kpis, name) for name in want} == want
    assert kpis.p95_latency_ms == row.p95_latency_ms


def test_late_data_in_the_previous_period_only_rebuilds_its_window(lacking):
    now = timezone.now()
    start, end = trailing_range_pairs(now)["7d"][1]
    late = start + timedelta(hours=1)  # in the 7-day window's previous period, not in its range
    assert late < trailing_ranges(now)["7d"][0]
    session_make(lacking, device=device_make(lacking), at=late, samples=[500.0], rss=None)
    assert "7d" in rollup_hours_compute(hours=[late], push_evidence=False).windows
    row = TrailingRollup.objects.get(window="7d", grain=TrailingGrain.PREVIOUS)
    assert row.sessions == brute(raw_in(start, end))["sessions"]


def test_the_home_page_reads_the_window_once_for_all_its_precomputed_figures(lacking, client, viewer_user):
    client.force_login(viewer_user)
    client.get("/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    reads = [q["sql"] for q in queries.captured_queries if "telemetry_trailingrollup" in q["sql"]]
    assert len(reads) == 1
    # (The open regressions' list carries its field-impact subqueries whether or not there are regressions.)
    sql = " ".join(q["sql"] for q in queries.captured_queries if "benchmarks_regression" not in q["sql"])
    for finer in ("telemetry_deviceactivityday", "telemetry_devicelackingday", "telemetry_dailycoarserollup"):
        assert finer not in sql, finer
    (start, end), _rows = window_rows("7d")
    raw = list(raw_in(start, end))
    cards = {card.key: card for card in response.context["release_cards"]}
    active = {s.device_id for s in raw}
    covered = active - {s.device_id for s in raw if lacks_a_field(s)}
    assert f"{len(covered):,} of {len(active):,} active devices" in cards["observability_coverage"].note
    previous = response.context["previous"]
    before = response.context["scope"].time_range.previous
    assert previous.sessions == brute(raw_in(*range_snap(before.start, before.end)))["sessions"]


def test_lab_coverage_on_a_window_is_lab_coverage_on_the_finer_rollups_and_the_raw_pairs(lacking):
    (start, end), _rows = window_rows("7d")
    page = time_range_parse(params={"range": "7d"}, now=timezone.now())
    from_window = lab_coverage(start=page.start, end=page.end, filters={})
    TrailingRollup.objects.all().delete()
    from_finer = lab_coverage(start=page.start, end=page.end, filters={})
    assert from_window == from_finer
    raw = raw_in(start, end)
    pairs = set(raw.values_list("model_version_id", "device_model_id").distinct())
    assert from_window.active == pairs
    devices = sum(brute(raw.filter(model_version_id=mv, device_model_id=dm))["devices"] for mv, dm in pairs)
    assert from_window.devices == devices


def test_the_fleets_device_count_on_a_window_span_is_the_raw_distinct_devices(lacking):
    (start, end), _rows = window_rows("7d")
    span_start, span_end = read_span(start, end)  # the regressions' field impact asks for whole days
    with CaptureQueriesContext(connection) as queries:
        devices = grouped_devices(start=span_start, end=span_end, q=Q(), fields=(), key=lambda row: ())
    assert devices == {(): brute(raw_in(start, end))["devices"]}
    assert "telemetry_trailingrollup" in queries.captured_queries[0]["sql"]


def test_rows_read_without_histograms_cannot_be_merged(lacking):
    from telemetry.kpi.totals import totals_sum
    from telemetry.kpi.trailing import trailing_cells_read

    (start, end), _rows = window_rows("7d")
    cells = trailing_cells_read(start=start, end=end, filters=None)
    with pytest.raises(ValueError, match="cannot be merged"):
        totals_sum(cells.values())


def test_a_full_rebuild_and_a_run_write_the_same_precomputed_columns(lacking):
    def snapshot():
        columns = ("window", "grain", *CELL, "bucket_start", "range_end", "devices", "lacking_devices")
        return set(TrailingRollup.objects.values_list(*columns, *QUANTILE_COLUMNS))

    run = snapshot()
    trailing_rollups_rebuild()
    assert snapshot() == run
