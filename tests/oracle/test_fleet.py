"""The fleet page (`/fleet/`: cards and the breakdown by device model) and the release comparison
(`/fleet/compare/`) show exactly the oracle's figures for the planted fleet."""

from datetime import timedelta

import pytest

from .asserts import assert_figures, assert_printed
from .brute import PERCENTILES, Oracle
from .plant import DEVICE_MODELS, MODEL

pytestmark = pytest.mark.django_db

CARD_FIGURES = ("sessions", "crashed_sessions", "crash_free_sessions", "inferences", "errors", "errors_per_1k",
                "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "accelerator_utilization", "peak_rss_mb_p50",
                "peak_rss_mb_p95", "devices")  # fmt: skip
# The comparison's rows as printed: label → (figure, format).
COMPARE_ROWS = {
    "Sessions": ("sessions", "{:,}"),
    "p50 latency (ms)": ("p50_latency_ms", "{:.1f}"),
    "p95 latency (ms)": ("p95_latency_ms", "{:.1f}"),
    "p99 latency (ms)": ("p99_latency_ms", "{:.1f}"),
    "Crash-free sessions": ("crash_free_sessions", "{:.3%}"),
    "Errors per 1k": ("errors_per_1k", "{:.3f}"),
    "Accelerator utilization": ("accelerator_utilization", "{:.1%}"),
    "Peak RSS p95 (MB)": ("peak_rss_mb_p95", "{:.0f}"),
    "Devices": ("devices", "{:,}"),
}


@pytest.fixture
def fleet_page(page):
    return page("/fleet/?range=7d&by=device_model").context


def test_fleet_cards_are_the_whole_fleets_figures(oracle: Oracle, fleet_page):
    assert_figures(fleet_page["kpis"], oracle.figures(*oracle.calendar_range(7)), names=CARD_FIGURES, what="fleet")


def test_the_range_edge_counts_what_starts_inside_it_only(oracle: Oracle, fleet_page, page):
    start, _ = oracle.calendar_range(7)
    outside = [s for s in oracle.fleet.sessions if s.peak_rss_mb == 999.0]
    assert outside and all(start - timedelta(minutes=2) < s.started_at < start for s in outside)
    assert fleet_page["kpis"].sessions == len(oracle.sessions(*oracle.calendar_range(7)))
    assert fleet_page["kpis"].peak_rss_mb_p95 < 999.0 * 0.99  # the slow, large sessions a minute before stay out
    hour = timedelta(hours=1)
    for a, b in ((start, start + hour), (start - hour, start)):  # the range's first hour, and the hour before it
        moment = "%Y-%m-%dT%H:%M:%SZ"
        got = page(f"/fleet/?range=custom&from={a.strftime(moment)}&to={b.strftime(moment)}").context["kpis"]
        want = oracle.figures(a, b)
        assert want.sessions, "the plant has sessions a minute either side of the edge"
        assert_figures(got, want, names=CARD_FIGURES, what=f"[{a}, {b})")


def test_breakdown_rows_by_device_model(oracle: Oracle, fleet_page):
    start, end = oracle.calendar_range(7)
    rows = {row["value"]: row["kpis"] for row in fleet_page["rows"]}
    planted = {s.device_model for s in oracle.sessions(start, end)}
    assert set(rows) == planted
    for slug in planted:
        assert_figures(rows[slug], oracle.figures(start, end, device_model=slug), names=CARD_FIGURES, what=slug)
    sessions = [row["kpis"].sessions for row in fleet_page["rows"]]
    assert sessions == sorted(sessions, reverse=True)  # the default sort: most sessions first


def test_breakdown_csv_carries_the_same_figures(oracle: Oracle, viewer):
    start, end = oracle.calendar_range(7)
    response = viewer.get("/fleet/?range=7d&by=device_model&format=csv")
    lines = response.content.decode().splitlines()
    header = lines[0].split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=True))
        want = oracle.figures(start, end, device_model=row["device_model"])
        assert int(row["sessions"]) == want.sessions
        assert int(row["devices"]) == want.devices
        assert float(row["crash_free_sessions"]) == pytest.approx(want.crash_free_sessions, rel=1e-9)
        assert abs(float(row["p95_latency_ms"]) - want.p95_latency_ms) <= 0.01 * want.p95_latency_ms * (1 + 1e-9)
        assert row["device_model"] in DEVICE_MODELS


def test_release_comparison_of_the_two_model_versions(oracle: Oracle, viewer):
    response = viewer.get(f"/fleet/compare/?range=30d&model={MODEL}&a=1.4.0&b=1.5.0")
    assert response.status_code == 200
    start, end = oracle.calendar_range(30)
    rows = {row["label"]: row for row in response.context["rows"]}
    assert set(rows) == set(COMPARE_ROWS)
    for side, version in (("a", "1.4.0"), ("b", "1.5.0")):
        want = oracle.figures(start, end, model_version=version)
        assert want.sessions, version
        for label, (name, pattern) in COMPARE_ROWS.items():
            assert_printed(rows[label][side], getattr(want, name), pattern, percentile=name in PERCENTILES,
                           what=f"{label} {version}")  # fmt: skip
