"""Per-cell daily rollup (no app/OS version): same KPIs as the fine daily rollup, exact devices, idempotent."""

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.kpi import selectors
from telemetry.models import DailyCoarseRollup, DailyDeviceModelRollup, DailyRollup
from telemetry.rollups.compute import rollup_range_compute
from telemetry.rollups.daily import rollup_day_coarse_compute
from tests.telemetry.fleet_factories import catalog_make, device_make
from tests.telemetry.rollup_factories import crash_make, session_make

DAY = datetime(2026, 11, 12, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("retention_unbounded")  # the dates above are fixed


@pytest.fixture
def c(db):
    return catalog_make()


@pytest.fixture
def fleet(c):
    """Two days; half the Pixels update the app (and one the OS) mid-day, so one cell spans several fine rows."""
    pixels = [device_make(c) for _ in range(4)]
    galaxies = [device_make(c, device_model=c.galaxy) for _ in range(2)]
    for day in range(2):
        for hour in range(0, 24, 3):
            at = DAY + timedelta(days=day, hours=hour, minutes=7)
            for i, device in enumerate(pixels):
                app = "3.3.0" if i % 2 and hour >= 12 else None
                os_version = "Android 16" if i == 1 and day == 1 else None
                session = session_make(c, device=device, at=at, samples=[8.0 + i, 9.0, 12.0 + hour / 10],
                                       app_version=app, os_version=os_version, accelerated=0.9)  # fmt: skip
                if hour == 6 and i == 0:
                    crash_make(c, session=session)
            for device in galaxies:
                session_make(c, device=device, at=at, samples=[150.0, 170.0, 420.0], accelerated=0.3, errors=2)
    rollup_range_compute(start=DAY, end=DAY + timedelta(days=2))


def _coarse_rows():
    return sorted(
        DailyCoarseRollup.objects.values_list(
            "bucket_start", "device_model_id", "model_version_id", "runtime_version_id", "delegate_id", "sessions",
            "crashed_sessions", "crashes", "inferences", "errors", "latency_histogram", "accelerated_weighted_sum",
            "accelerated_weight", "peak_rss_histogram", "devices",
        ),
        key=str,
    )  # fmt: skip


def _figures(kpis_list) -> list[dict]:
    """KPI values without the range (floats compare to 1e-12: the grains add the same floats in another order)."""
    return [{name: v for name, v in k.as_dict().items() if name not in ("start", "end")} for k in kpis_list]


def test_coarse_path_and_fine_path_give_identical_kpis(fleet, monkeypatch):
    assert DailyCoarseRollup.objects.count() < DailyRollup.objects.count()
    ranges = [(DAY, DAY + timedelta(days=2)), (DAY + timedelta(hours=5), DAY + timedelta(days=1, hours=20))]
    scopes = [{}, {"device_model": "google-pixel-8"}, {"tier": 1}]

    def read():
        return (
            [selectors.kpis_get(start=a, end=b, filters=f) for a, b in ranges for f in scopes]
            + selectors.kpi_timeseries(start=DAY, end=DAY + timedelta(days=2), filters={}, bucket="day")
            + [k for _, k in selectors.kpi_breakdown(start=DAY, end=DAY + timedelta(days=2), dimension="cohort")]
        )

    coarse = read()
    assert coarse[0].sessions == 2 * 8 * 6 and coarse[0].devices == 6
    monkeypatch.setattr(selectors, "daily_model", lambda **kwargs: DailyRollup)
    fine = read()
    assert _figures(fine) == [pytest.approx(figures, rel=1e-12) for figures in _figures(coarse)]


def test_coarse_devices_count_a_device_once_across_app_versions(fleet, c):
    row = DailyCoarseRollup.objects.get(bucket_start=DAY, device_model=c.pixel)
    fine = DailyRollup.objects.filter(bucket_start=DAY, device_model=c.pixel)
    assert sum(r.devices for r in fine) == 6  # two updating devices appear under both app versions
    assert row.devices == 4
    assert row.sessions == sum(r.sessions for r in fine)


def test_app_version_filters_and_breakdowns_read_the_fine_rollup():
    assert selectors.daily_model(filters={"app_version": "3.3.0"}) is DailyRollup
    assert selectors.daily_model(filters={}, fields=("os_version",)) is DailyRollup
    assert selectors.daily_model(filters={"tier": 1}, fields=("model_version_id",)) is DailyCoarseRollup
    assert selectors.daily_model(filters={"model": "yolov8n"}) is DailyCoarseRollup
    # Device-model attributes only: the per-device-model grain (tests/telemetry/test_rollup_grains.py).
    assert selectors.daily_model(filters={"tier": 1}, fields=("device_model__slug",)) is DailyDeviceModelRollup


def test_recomputing_a_coarse_day_replaces_its_rows(fleet):
    before = _coarse_rows()
    rollup_day_coarse_compute(day=DAY.date())
    rollup_range_compute(start=DAY, end=DAY + timedelta(hours=3))
    assert _coarse_rows() == before
