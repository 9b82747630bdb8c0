"""Incremental trailing windows: a run that adds today's rows to the kept closed-day sums writes exactly the rows a
full rebuild writes, and both hold the raw sessions' figures (brute force), across late data and a day roll-over."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.kpi.buckets import day_floor
from telemetry.kpi.kpis import QUANTILE_COLUMNS
from telemetry.kpi.totals import SUM_COLUMNS
from telemetry.kpi.trailing import read_span, trailing_ranges
from telemetry.kpi.windows import trailing_range_pairs
from telemetry.models import TrailingClosedRollup, TrailingGrain, TrailingRollup
from telemetry.rollups.compute import rollup_hours_compute
from telemetry.rollups.trailing import trailing_rollups_rebuild

from .fleet_factories import device_make
from .rollup_factories import session_make
from .test_trailing_home import lacks_a_field
from .test_trailing_rollups import CELL, brute, fleet, raw_in  # noqa: F401 (fleet: the fixture)

pytestmark = pytest.mark.django_db


STORED = (*SUM_COLUMNS, *QUANTILE_COLUMNS, "lacking_devices")


def windows_snapshot() -> dict:
    """Every TrailingRollup row by (window, span, grain value): its sums, histograms, devices, quantiles and lacking
    devices."""
    rows = TrailingRollup.objects.values("window", "bucket_start", "range_end", "grain", *CELL, *STORED)
    return {
        (r["window"], r["bucket_start"], r["range_end"], r["grain"], *(r[f] for f in CELL)): {
            name: r[name] for name in STORED
        }
        for r in rows
    }


def assert_incremental_is_full_and_raw(now):
    incremental = windows_snapshot()
    trailing_rollups_rebuild(now=now)  # hours=None: everything summed again from the grain tables
    assert windows_snapshot() == incremental
    for window, (start, end) in trailing_ranges(now).items():
        span_start, span_end = read_span(start, end)
        rows = TrailingRollup.objects.filter(window=window, bucket_start=span_start, range_end=span_end)
        raw = raw_in(start, end)
        want = brute(raw)
        assert {name: getattr(rows.get(grain=TrailingGrain.FLEET), name) for name in want} == want, window
        for row in rows.filter(grain=TrailingGrain.DEVICE_MODEL):
            got = {name: getattr(row, name) for name in want}
            assert got == brute(raw.filter(device_model_id=row.device_model_id)), window
        cells = rows.filter(grain=TrailingGrain.CELL)
        assert {tuple(getattr(r, f) for f in CELL) for r in cells} == set(raw.values_list(*CELL).distinct())
        for row in cells:
            got = {name: getattr(row, name) for name in want}
            assert got == brute(raw.filter(**{f: getattr(row, f) for f in CELL})), (window, row)
        # The home page's precomputed figures (test_trailing_home.py): pairs, lacking devices, the previous period.
        pairs = rows.filter(grain=TrailingGrain.PAIR)
        assert {(r.model_version_id, r.device_model_id) for r in pairs} == set(
            raw.values_list("model_version_id", "device_model_id").distinct()
        )
        for row in pairs:
            got = {name: getattr(row, name) for name in want}
            assert got == brute(raw.filter(model_version_id=row.model_version_id, device_model_id=row.device_model_id))
        lacking = {s.device_id for s in raw if lacks_a_field(s)}
        assert rows.get(grain=TrailingGrain.FLEET).lacking_devices == len(lacking), window
        previous = TrailingRollup.objects.get(window=window, grain=TrailingGrain.PREVIOUS)
        assert (previous.bucket_start, previous.range_end) == trailing_range_pairs(now)[window][1]
        want_before = brute(raw_in(previous.bucket_start, previous.range_end))
        assert (previous.sessions, previous.errors) == (want_before["sessions"], want_before["errors"]), window


def closed_built_at(window: str):
    return TrailingClosedRollup.objects.get(window=window, grain=TrailingGrain.FLEET).computed_at


def test_incremental_runs_equal_a_full_rebuild_and_the_raw_rows_after_late_data_and_a_day_roll_over(
    fleet,  # noqa: F811
    monkeypatch,
):
    now = timezone.now()
    today = day_floor(now)
    # Today's data on a brand-new device (the fixture's devices are active today too: already seen).
    newcomer = device_make(fleet, device_model=fleet.pixel)
    at = max(today, now - timedelta(minutes=5))
    session_make(fleet, device=newcomer, at=at, samples=[30.0])
    rollup_hours_compute(hours=[at], push_evidence=False)
    assert_incremental_is_full_and_raw(now)
    kept = closed_built_at("30d")

    # Late data on a closed day: a new device and an old device in a cell new to it; the closed days are summed again.
    late_at = today - timedelta(days=3) + timedelta(hours=2)
    session_make(fleet, device=device_make(fleet, device_model=fleet.galaxy), at=late_at, samples=[70.0])
    session_make(fleet, device=newcomer, at=late_at, samples=[40.0], model_version=fleet.v2, rss=None)
    assert set(rollup_hours_compute(hours=[late_at], push_evidence=False).windows) == {"7d", "30d"}
    assert closed_built_at("30d") > kept
    assert_incremental_is_full_and_raw(now)

    # The next UTC day: the windows' first day moves, yesterday becomes closed; then a second run reuses it.
    later = today + timedelta(days=1, minutes=30)
    ticks = itertools.count()  # a clock that moves: a closed-day sum built again would carry a later time
    monkeypatch.setattr(timezone, "now", lambda: later + timedelta(microseconds=next(ticks)))
    first = later - timedelta(minutes=20)
    session_make(fleet, device=newcomer, at=first, samples=[50.0])
    rollup_hours_compute(hours=[first], push_evidence=False)
    rolled = closed_built_at("7d")
    span_start, _ = read_span(*trailing_ranges(later)["7d"])
    assert TrailingClosedRollup.objects.get(window="7d", grain=TrailingGrain.FLEET).range_end == day_floor(later)
    assert TrailingClosedRollup.objects.get(window="7d", grain=TrailingGrain.FLEET).bucket_start == span_start
    second = later - timedelta(minutes=10)
    session_make(fleet, device=device_make(fleet, device_model=fleet.galaxy), at=second, samples=[60.0], rss=None)
    rollup_hours_compute(hours=[second], push_evidence=False)
    assert closed_built_at("7d") == rolled  # only today was read again
    assert_incremental_is_full_and_raw(later)
