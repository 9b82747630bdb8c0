"""A device page and the crash group's pages show exactly the oracle's figures for the planted fleet."""

from datetime import timedelta

import pytest

from .asserts import assert_printed
from .brute import PERCENTILES, Oracle
from .plant import DEVICE_MODELS

pytestmark = pytest.mark.django_db

# The device page's KPI rows as printed: label → (figure, format).
DEVICE_ROWS = {
    "p95 latency (ms)": ("p95_latency_ms", "{:.1f}"),
    "Crash-free sessions": ("crash_free_sessions", "{:.2%}"),
    "Errors per 1k": ("errors_per_1k", "{:.2f}"),
    "Accelerator utilization": ("accelerator_utilization", "{:.1%}"),
    "Peak RSS p95 (MB)": ("peak_rss_mb_p95", "{:.0f}"),
    "Sessions": ("sessions", "{:,}"),
}


def _crashing_device(oracle: Oracle):
    return next(d for d in oracle.fleet.devices if any(c.uid == d.uid for c in oracle.fleet.crashes))


@pytest.fixture
def group():
    from telemetry.models import CrashGroup

    return CrashGroup.objects.get()  # the plant has one crash signature


@pytest.mark.parametrize("which", ["crashing", "first of the edge cohort"])
def test_device_page_first_last_seen_timeline_and_kpis_vs_cohort(oracle: Oracle, viewer, which):
    device = _crashing_device(oracle) if which == "crashing" else oracle.fleet.devices[0]
    response = viewer.get(f"/fleet/devices/{device.uid}/?range=7d")
    assert response.status_code == 200
    context = response.context
    first, last = oracle.device_seen(device.uid)
    assert abs(context["device"].first_seen_at - first) < timedelta(milliseconds=1)
    assert abs(context["device"].last_seen_at - last) < timedelta(milliseconds=1)
    start, _ = oracle.calendar_range(7)
    assert first < start  # the plant: its history starts before the page's range
    assert context["timeline_page"].count == oracle.device_timeline_count(device.uid, start, oracle.fleet.now)

    mine = oracle.figures(start, oracle.fleet.now, uid=device.uid)
    cohort = oracle.figures(*oracle.calendar_range(7), device_model=device.device_model)
    rows = {row["label"]: row for row in context["kpi_rows"]}
    assert set(rows) == set(DEVICE_ROWS)
    for label, (name, pattern) in DEVICE_ROWS.items():
        percentile = name in PERCENTILES
        assert_printed(rows[label]["device"], getattr(mine, name), pattern, percentile=percentile, what=label)
        assert_printed(rows[label]["cohort"], getattr(cohort, name), pattern, percentile=percentile, what=label)


def test_crash_group_page_counts_devices_and_breakdowns(oracle: Oracle, viewer, group):
    response = viewer.get(f"/crashes/{group.pk}/?range=30d")
    assert response.status_code == 200
    detail = response.context["detail"]
    crashes = oracle.crashes(*oracle.calendar_range(30))
    assert crashes and detail.events_in_range == len(crashes)
    assert group.event_count == len(oracle.fleet.crashes)
    assert group.device_count == len({c.uid for c in oracle.fleet.crashes})
    assert {d.uid for d in detail.devices} == {c.uid for c in oracle.fleet.crashes}
    assert sum(n for _, n in detail.events_over_time) == len(crashes)

    def ranked(key) -> list[tuple[str, int, float]]:
        counts = {}
        for crash in crashes:
            counts[key(crash)] = counts.get(key(crash), 0) + 1
        return sorted(((label, n, n / len(crashes)) for label, n in counts.items()), key=lambda r: (-r[1], r[0]))

    breakdowns = detail.breakdowns
    for name, key in (
        ("device_model", lambda c: DEVICE_MODELS[c.device_model].label),
        ("model_version", lambda c: f"yolov8n {c.model_version}"),
        ("app_version", lambda c: c.app_version),
        ("delegate", lambda c: f"tflite {c.delegate}"),
    ):
        got = [(row["label"], row["events"], row["share"]) for row in breakdowns[name]]
        assert got == ranked(key), name
    # The planted cohort crashes on one app version only.
    assert [row["label"] for row in breakdowns["app_version"]] == ["3.3.0"]


def test_crash_list_shows_the_share_of_the_affected_cohort(oracle: Oracle, viewer, group):
    response = viewer.get("/crashes/?range=30d")
    assert response.status_code == 200
    figures = dict((g.pk, f) for g, f in response.context["rows"])[group.pk]
    start, _ = oracle.calendar_range(30)
    hit, active = oracle.crash_cohort_share(start, oracle.fleet.now)
    assert (figures.devices_hit, figures.cohort_devices) == (hit, active)
    assert figures.cohort_share == pytest.approx(hit / active, rel=1e-12)
    assert figures.events_in_range == len(oracle.crashes(start, oracle.fleet.now + timedelta(days=1)))
    assert 0 < hit < active  # the Galaxies on 3.2.1 are in the cohort and never crash
