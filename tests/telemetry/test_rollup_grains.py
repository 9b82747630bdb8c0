"""Coarse grains (fleet hour and day, device-model day, model-version devices): sums of the finer rollups, exact
devices, idempotent on recompute, re-opened by late events, and read by the KPI selectors with the same answers."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from telemetry.kpi import reads, selectors, windows
from telemetry.kpi.buckets import range_split
from telemetry.kpi.totals import Totals
from telemetry.models import (
    DailyCoarseRollup,
    DailyDeviceModelRollup,
    DailyFleetRollup,
    DailyModelVersionDevices,
    DailyRollup,
    DeviceModelDevice,
    HourlyFleetRollup,
    HourlyRollup,
    InferenceSession,
)
from telemetry.rollups.compute import rollup_hours_compute, rollup_range_compute
from telemetry.rollups.daily import rollup_day_coarse_compute
from telemetry.rollups.grains import rollup_grains_backfill as call_backfill
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import crash_make, exact_quantile, session_make

DAY = datetime(2026, 11, 12, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("retention_unbounded")  # the dates above are fixed
SUMS = ("sessions", "crashed_sessions", "crashes", "inferences", "errors", "accelerated_weight")
ROW_VALUES = (*SUMS, "accelerated_weighted_sum", "latency_histogram", "peak_rss_histogram")
GRAIN_COLUMNS = (*ROW_VALUES, "devices")


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def fleet(c):
    """Two days; two Pixels move to v2 on day two, odd Pixels update the app at noon, Galaxies switch delegates."""
    pixels = [device_make(c) for _ in range(4)]
    galaxies = [device_make(c, device_model=c.galaxy) for _ in range(3)]
    samples: list[float] = []
    for day in range(2):
        for hour in range(0, 24, 2):
            at = DAY + timedelta(days=day, hours=hour, minutes=11)
            for i, device in enumerate(pixels):
                version = c.v2 if day == 1 and i < 2 else c.v1
                app = "3.3.0" if i % 2 and hour >= 12 else None
                values = [8.0 + i, 9.5, 11.0 + hour / 10]
                session = session_make(c, device=device, at=at, samples=values, model_version=version, app_version=app)
                samples += values
                if hour == 4 and i == 0:
                    crash_make(c, session=session)
            for device in galaxies:
                values = [140.0, 180.0, 410.0]
                session_make(c, device=device, at=at, samples=values, accelerated=0.3, errors=1,
                             delegate=c.cpu if hour % 4 else c.gpu)  # fmt: skip
                samples += values
    rollup_range_compute(start=DAY, end=DAY + timedelta(days=2))
    return samples


def _merged(rows) -> Totals:
    totals = Totals()
    for row in rows:
        totals.add_row({**row, "devices": 0})
    return totals


def _assert_row_is_sum(row, totals: Totals) -> None:
    assert {name: getattr(row, name) for name in SUMS} == {name: getattr(totals, name) for name in SUMS}
    assert row.accelerated_weighted_sum == pytest.approx(totals.accelerated_weighted_sum, rel=1e-12)
    assert row.latency_histogram == totals.wire()
    assert row.peak_rss_histogram == totals.wire(rss=True)


def _raw_devices(**lookups) -> int:
    return InferenceSession.objects.filter(**lookups).values("device_id").distinct().count()


def _snapshot() -> dict:
    return {
        "hour": sorted(HourlyFleetRollup.objects.values_list("bucket_start", *GRAIN_COLUMNS), key=str),
        "fleet": sorted(DailyFleetRollup.objects.values_list("bucket_start", *GRAIN_COLUMNS), key=str),
        "device_model": sorted(
            DailyDeviceModelRollup.objects.values_list("bucket_start", "device_model_id", *GRAIN_COLUMNS), key=str
        ),
        "adoption": sorted(DailyModelVersionDevices.objects.values_list("day", "model_version_id", "devices")),
        "pairs": sorted(DeviceModelDevice.objects.values_list("device_id", "device_model_id")),
    }


def _figures(kpis_list) -> list[dict]:
    return [{name: v for name, v in k.as_dict().items() if name not in ("start", "end")} for k in kpis_list]


def test_fleet_and_device_model_days_are_sums_of_the_cell_days(fleet, c):
    for day in (DAY, DAY + timedelta(days=1)):
        cells = DailyCoarseRollup.objects.filter(bucket_start=day).values(*ROW_VALUES)
        _assert_row_is_sum(DailyFleetRollup.objects.get(bucket_start=day), _merged(cells))
        assert DailyDeviceModelRollup.objects.filter(bucket_start=day).count() == 2
        for device_model in (c.pixel, c.galaxy):
            row = DailyDeviceModelRollup.objects.get(bucket_start=day, device_model=device_model)
            _assert_row_is_sum(row, _merged(cells.filter(device_model=device_model)))


def test_fleet_hours_are_sums_of_the_cohort_hours(fleet):
    hours = HourlyFleetRollup.objects.order_by("bucket_start")
    assert hours.count() == 24
    for row in hours:
        cohorts = HourlyRollup.objects.filter(bucket_start=row.bucket_start).values(*ROW_VALUES)
        _assert_row_is_sum(row, _merged(cohorts))


def test_grain_devices_are_the_distinct_raw_devices(fleet, c):
    for day in (DAY, DAY + timedelta(days=1)):
        in_day = {"started_at__gte": day, "started_at__lt": day + timedelta(days=1)}
        assert DailyFleetRollup.objects.get(bucket_start=day).devices == _raw_devices(**in_day) == 7
        for device_model in (c.pixel, c.galaxy):
            row = DailyDeviceModelRollup.objects.get(bucket_start=day, device_model=device_model)
            assert row.devices == _raw_devices(device_model=device_model, **in_day)
        for version in (c.v1, c.v2):
            expected = _raw_devices(model_version=version, **in_day)
            found = DailyModelVersionDevices.objects.filter(day=day.date(), model_version=version)
            assert [row.devices for row in found] == ([expected] if expected else [])
    # A Pixel on both app versions and a Galaxy on both delegates count once per hour, unlike Σ cohort devices.
    noon = DAY + timedelta(hours=12)
    row = HourlyFleetRollup.objects.get(bucket_start=noon)
    assert row.devices == _raw_devices(started_at__gte=noon, started_at__lt=noon + timedelta(hours=1)) == 7


def test_device_model_pairs_are_the_distinct_raw_pairs_and_count_a_device_under_each_model(fleet, c):
    raw_pairs = set(InferenceSession.objects.values_list("device_id", "device_model_id").distinct())
    assert set(DeviceModelDevice.objects.values_list("device_id", "device_model_id")) == raw_pairs
    # A device that reported as a Galaxy once (a misconfigured SDK) counts under both models and once in total.
    pixel = InferenceSession.objects.filter(device_model=c.pixel).first().device
    odd = session_make(c, device=pixel, at=DAY + timedelta(hours=3), samples=[50.0])
    InferenceSession.objects.filter(pk=odd.pk).update(device_model=c.galaxy)
    rollup_hours_compute(hours=[odd.started_at], push_evidence=False)
    rows = dict(selectors.kpi_breakdown(start=DAY, end=DAY + timedelta(days=2), dimension="device_model"))
    assert (rows["google-pixel-8"].devices, rows["samsung-galaxy-a54"].devices) == (4, 4)
    assert selectors.kpis_get(start=DAY, end=DAY + timedelta(days=2)).devices == 7
    assert selectors.kpis_get(start=DAY, end=DAY + timedelta(days=2), filters={"tier": 2}).devices == 4
    assert (
        selectors.kpis_get(start=DAY + timedelta(days=1), end=DAY + timedelta(days=2), filters={"tier": 2}).devices == 3
    )


def test_recomputing_hours_and_days_gives_the_same_grain_rows(fleet):
    before = _snapshot()
    rollup_range_compute(start=DAY, end=DAY + timedelta(days=2))
    rollup_day_coarse_compute(day=DAY.date())
    assert _snapshot() == before


def test_backfill_recreates_the_grains_of_rollups_computed_before_them(fleet):
    before = _snapshot()
    for model in (HourlyFleetRollup, DailyFleetRollup, DailyDeviceModelRollup, DailyModelVersionDevices,
                  DeviceModelDevice):  # fmt: skip
        model.objects.all().delete()
    assert call_backfill() == {"pairs": 7, "days": 2, "hours": 24}
    assert _snapshot() == before
    assert call_backfill()["hours"] == 0  # hours already filled are left alone


def test_a_late_session_reopens_its_hour_and_day_grains(fleet, c):
    late = device_make(c, device_model=c.galaxy)
    at = DAY + timedelta(hours=5, minutes=40)  # an hour that had no sessions
    session_make(c, device=late, at=at, samples=[90.0], model_version=c.v2)
    before = DailyFleetRollup.objects.get(bucket_start=DAY)
    rollup_hours_compute(hours=[at], push_evidence=False)
    hour = HourlyFleetRollup.objects.get(bucket_start=DAY + timedelta(hours=5))
    assert (hour.sessions, hour.devices) == (1, 1)
    after = DailyFleetRollup.objects.get(bucket_start=DAY)
    assert (after.sessions, after.devices) == (before.sessions + 1, before.devices + 1)
    assert DailyDeviceModelRollup.objects.get(bucket_start=DAY, device_model=c.galaxy).devices == 4
    assert DailyModelVersionDevices.objects.get(day=DAY.date(), model_version=c.v2).devices == 1


def test_unfiltered_reads_use_the_fleet_grain_and_equal_the_cohort_grain(fleet, monkeypatch):
    ranges = [(DAY, DAY + timedelta(days=2)), (DAY + timedelta(hours=5), DAY + timedelta(days=1, hours=20))]

    def read():
        return [selectors.kpis_get(start=a, end=b) for a, b in ranges] + [
            *selectors.kpi_timeseries(start=DAY, end=DAY + timedelta(days=2), bucket="day"),
            *selectors.kpi_timeseries(start=DAY, end=DAY + timedelta(hours=6), bucket="hour"),
        ]

    with CaptureQueriesContext(connection) as queries:
        coarse = read()
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "telemetry_dailyfleetrollup" in sql and "telemetry_hourlyfleetrollup" in sql
    assert "telemetry_dailycoarserollup" not in sql and '"telemetry_hourlyrollup"' not in sql
    monkeypatch.setattr(selectors, "daily_model", lambda **kwargs: DailyRollup)
    monkeypatch.setattr(selectors, "hourly_model", lambda **kwargs: HourlyRollup)
    fine = read()
    # Devices: whole ranges and days count DeviceActivityDay on both paths; hours differ only where a device
    # switched cohort within the hour (the fleet hour counts it once, the summed cohort hours twice).
    hourly_devices = [k.devices for k in coarse[-6:]]
    assert hourly_devices == [7, 0, 7, 0, 7, 0]
    assert _figures(fine[:-6]) == [pytest.approx(f, rel=1e-12) for f in _figures(coarse[:-6])]
    whole = coarse[0]
    assert whole.sessions == InferenceSession.objects.count() == 2 * 12 * 7
    assert whole.devices == 7
    assert whole.p95_latency_ms == pytest.approx(exact_quantile(fleet, 0.95), rel=0.01)


def test_device_model_breakdown_reads_its_grain_with_the_same_answers(fleet, monkeypatch):
    def read():
        return selectors.kpi_breakdown(
            start=DAY + timedelta(hours=3), end=DAY + timedelta(days=2), filters={"tier": 1}, dimension="device_model"
        )

    with CaptureQueriesContext(connection) as queries:
        coarse = read()
    assert "telemetry_dailydevicemodelrollup" in " ".join(q["sql"] for q in queries.captured_queries)
    monkeypatch.setattr(selectors, "daily_model", lambda **kwargs: DailyRollup)
    fine = read()
    assert [value for value, _ in coarse] == [value for value, _ in fine] == ["google-pixel-8"]
    assert _figures([k for _, k in fine]) == [pytest.approx(f, rel=1e-12) for f in _figures([k for _, k in coarse])]
    assert coarse[0][1].devices == 4


def test_unfiltered_adoption_reads_the_precomputed_counts(fleet, c):
    with CaptureQueriesContext(connection) as queries:
        rows = selectors.adoption_timeseries(start=DAY, end=DAY + timedelta(days=2))
    assert "telemetry_deviceactivityday" not in " ".join(q["sql"] for q in queries.captured_queries)
    expected = []
    for day in (DAY, DAY + timedelta(days=1)):
        in_day = {"started_at__gte": day, "started_at__lt": day + timedelta(days=1)}
        active = _raw_devices(**in_day)
        for version in (c.v1, c.v2):
            if n := _raw_devices(model_version=version, **in_day):
                expected.append((day.date(), f"yolov8n {version.version}", n, n / active))
    assert [(r["day"], r["model_version"], r["devices"], r["share"]) for r in rows] == expected
    # A scope still counts its activity rows; with a scope that is the whole fleet the answer is the same.
    scoped = selectors.adoption_timeseries(start=DAY, end=DAY + timedelta(days=2), filters={"model": "yolov8n"})
    assert scoped == rows


def test_a_trailing_partial_day_reaching_now_reads_the_whole_day(c, monkeypatch):
    """Today's rows hold only what started before now: [today 00:00, now) is read from daily rows, not hours/raw."""
    devices = [device_make(c) for _ in range(3)] + [device_make(c, device_model=c.galaxy)]
    today = DAY + timedelta(days=1)
    now = today + timedelta(hours=6, minutes=30)
    per_day = defaultdict(set)
    for hour in range(0, 30, 3):  # yesterday 00:00 to today 03:00, all before "now"
        at = DAY + timedelta(hours=hour, minutes=5)
        for i, device in enumerate(devices[: 2 + (hour // 3) % 3]):
            session_make(c, device=device, at=at, samples=[10.0 + i, 20.0, 30.0 + hour], app_version=f"3.{hour % 2}")
            per_day[at.date()].add(device.pk)
    rollup_range_compute(start=DAY, end=today + timedelta(hours=4))
    monkeypatch.setattr(reads, "timezone", SimpleNamespace(now=lambda: now))
    monkeypatch.setattr(windows, "timezone", SimpleNamespace(now=lambda: now))  # range_pieces lives in kpi.windows
    scopes = [{}, {"tier": 1}, {"app_version": "3.1"}]

    def read():
        return [selectors.kpis_get(start=start, end=now, filters=f) for start in (DAY, DAY + timedelta(hours=9))
                for f in scopes]  # fmt: skip

    with CaptureQueriesContext(connection) as queries:
        for scope in scopes:
            selectors.kpis_get(start=DAY, end=now, filters=scope)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "hourly" not in sql and "telemetry_inferencesession" not in sql
    whole_days = read()
    assert whole_days[0].devices == len(per_day[DAY.date()] | per_day[today.date()]) == 4
    monkeypatch.setattr(reads, "range_pieces", range_split)
    hourly_edges = read()
    assert _figures(whole_days) == [pytest.approx(f, rel=1e-12) for f in _figures(hourly_edges)]
    assert whole_days[0].sessions == InferenceSession.objects.count()


def test_the_trailing_day_is_read_whole_only_when_the_range_reaches_now(monkeypatch):
    now = DAY + timedelta(hours=6, minutes=30)
    monkeypatch.setattr(reads, "timezone", SimpleNamespace(now=lambda: now))
    monkeypatch.setattr(windows, "timezone", SimpleNamespace(now=lambda: now))  # range_pieces lives in kpi.windows
    end = DAY + timedelta(hours=7)
    week_ago = DAY - timedelta(days=6)
    assert reads.range_pieces(week_ago, end) == ([], (week_ago, DAY + timedelta(days=1)))
    yesterday_9 = DAY - timedelta(hours=15)
    assert reads.range_pieces(yesterday_9, end) == ([(yesterday_9, DAY)], (DAY, DAY + timedelta(days=1)))
    # Starting inside today: the day's rows would include hours before the start.
    assert reads.range_pieces(DAY + timedelta(hours=2), end) == range_split(DAY + timedelta(hours=2), end)
    # Ending before now: later hours of that day may hold data.
    past_end = DAY + timedelta(hours=5)
    assert reads.range_pieces(week_ago, past_end) == range_split(week_ago, past_end)
