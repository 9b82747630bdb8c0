"""ThermalDeviceLastDay: a device's last day per cell and state, which counts the devices of windows ending today."""

from datetime import timedelta

import pytest
from django.db.models import F, Q
from django.utils import timezone

from labfield.field import days_window, thermal_devices
from telemetry.kpi.buckets import day_floor
from telemetry.models import DailyThermalDevice, ThermalDeviceLastDay
from telemetry.rollups.thermal import last_days_record
from tests.telemetry.fleet_factories import catalog_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def _cell(c) -> tuple:
    return (c.v1.pk, c.tflite_216.pk, c.gpu.pk, c.pixel.pk)


def _active(c, device, state: str, *days_ago: int) -> None:
    """Rows as the thermal roll-up writes them: the day row (an hour's), then the day's last days, for each day in
    the order given."""
    today = day_floor(timezone.now()).date()
    model_version, runtime_version, delegate, device_model = _cell(c)
    for ago in days_ago:
        day = today - timedelta(days=ago)
        DailyThermalDevice.objects.get_or_create(
            day=day, thermal_state=state, device=device, model_version_id=model_version,
            runtime_version_id=runtime_version, delegate_id=delegate, device_model_id=device_model,
        )  # fmt: skip
        last_days_record(day=day)


def test_a_late_earlier_day_never_moves_the_last_day_back(c):
    device = device_make(c, uid="pixel8-1")
    _active(c, device, "serious", 0, 20, 3)  # today, then a late session 20 days back, then 3 days back
    row = ThermalDeviceLastDay.objects.get()
    assert row.last_day == day_floor(timezone.now()).date() and row.thermal_state == "serious"
    _active(c, device, "serious", 0)  # the same day again: one row
    assert ThermalDeviceLastDay.objects.count() == 1


def test_windows_ending_today_count_as_the_day_rows_do_and_past_windows_read_the_days(c):
    """Distinct devices per state, by last day and by day rows, for a window ending today; a window ending 10 days ago
    counts a device active then and today from its day rows (its last day is today)."""
    devices = [device_make(c, uid=f"pixel8-{i}") for i in range(5)]
    _active(c, devices[0], "serious", 1, 12)
    _active(c, devices[1], "serious", 0)
    _active(c, devices[1], "nominal", 9)  # outside 7 days: not counted in nominal
    _active(c, devices[2], "nominal", 2, 6)
    _active(c, devices[3], "", 30, 11)  # only before the window, in the last 30 days
    _active(c, devices[4], "fair", 0, 12)
    q = Q(model_version_id=c.v1.pk)
    group = {"state": F("thermal_state")}

    def by_day_rows(days: int, end_ago: int = 0) -> dict:
        start, end = days_window(days, now=timezone.now() - timedelta(days=end_ago))
        rows = DailyThermalDevice.objects.filter(q, day__gte=start.date(), day__lt=end.date())
        counts: dict = {}
        for state in {state for state, _ in rows.values_list("thermal_state", "device_id")}:
            counts[(state,)] = len({d for s, d in rows.values_list("thermal_state", "device_id") if s == state})
        return counts

    assert (
        thermal_devices(q=q, days=7, group=group) == by_day_rows(7) == {("serious",): 2, ("nominal",): 1, ("fair",): 1}
    )
    assert thermal_devices(q=q, days=30, group=group) == by_day_rows(30)
    past = timezone.now() - timedelta(days=10)
    assert thermal_devices(q=q, days=7, group=group, now=past) == by_day_rows(7, end_ago=10)
    assert by_day_rows(7, end_ago=10) == {
        ("serious",): 1,
        ("fair",): 1,
        ("",): 1,
    }  # devices 0, 4 and 3, 12–11 days back
