"""The gap selectors against the planted fleet, every figure checked against the independent reckoning."""

import pytest

from labfield.field import Thermal
from labfield.selectors import ENTRY_RELATED, cell_gap_get, gaps_list

from .conftest import expected_field, expected_lab, is_throttled

pytestmark = pytest.mark.django_db
WITHIN_HISTOGRAM = 0.011  # merged histograms read quantiles back within 1 % of the exact sample


def close(value, expected):
    return value == pytest.approx(expected, rel=WITHIN_HISTOGRAM)


def entry_of(planted, name):
    return type(planted.entry(name)).objects.select_related(*ENTRY_RELATED).get(pk=planted.entry(name).pk)


def test_a_cell_slow_only_when_throttled_is_flagged_only_in_its_throttled_part(planted):
    gap = cell_gap_get(entry=entry_of(planted, "hot"))
    lab_p50, lab_p95 = expected_lab(planted, "hot")
    assert (gap.lab.runs, gap.lab.p50_ms, gap.lab.p95_ms) == (3, lab_p50, lab_p95) == (3, 10.0, 20.0)
    for figure, days in ((gap.field_7d, 7), (gap.field_30d, 30)):
        sessions, devices, p50, p95 = expected_field(planted, "hot", days=days)
        assert (figure.sessions, figure.devices) == (sessions, devices)
        assert close(figure.p50_ms, p50) and close(figure.p95_ms, p95)
    assert gap.field_30d.sessions == gap.field_7d.sessions + 5
    assert close(gap.ratio_7d.p95, expected_field(planted, "hot")[3] / lab_p95)
    assert gap.ratio_7d.p95 < 1.5 and not gap.flagged

    thermal = {row.key: row for row in gap.thermal}
    assert list(thermal) == [Thermal.NOT_THROTTLED, Thermal.THROTTLED, Thermal.UNREPORTED]
    groups = {
        Thermal.THROTTLED: lambda t, os: is_throttled(t),
        Thermal.UNREPORTED: lambda t, os: t == "",
        Thermal.NOT_THROTTLED: lambda t, os: t != "" and not is_throttled(t),
    }
    for key, where in groups.items():
        sessions, devices, p50, p95 = expected_field(planted, "hot", where=where)
        row = thermal[key]
        assert (row.field.sessions, row.field.devices) == (sessions, devices)
        assert close(row.field.p50_ms, p50) and close(row.field.p95_ms, p95)
    assert close(thermal[Thermal.THROTTLED].ratio.p95, 2.3) and close(thermal[Thermal.THROTTLED].ratio.p50, 2.3)
    assert close(thermal[Thermal.NOT_THROTTLED].ratio.p95, 1.0)
    assert [key for key, row in thermal.items() if row.flagged] == [Thermal.THROTTLED]
    assert gap.flagged_parts == ["throttled"]


def test_the_os_split_sums_to_the_cell(planted):
    gap = cell_gap_get(entry=entry_of(planted, "hot"))
    assert {row.key for row in gap.os_versions} == {"Android 14", "Android 15"}
    for row in gap.os_versions:
        sessions, devices, p50, p95 = expected_field(planted, "hot", where=lambda t, os, v=row.key: os == v)
        assert (row.field.sessions, row.field.devices) == (sessions, devices)
        assert close(row.field.p95_ms, p95)
    assert sum(row.field.sessions for row in gap.os_versions) == gap.field_7d.sessions


def test_too_few_sessions_are_not_flagged(planted, settings):
    settings.LAB_FIELD_MIN_SESSIONS = 16  # the slow cell has 15
    assert not cell_gap_get(entry=entry_of(planted, "slow")).flagged
    settings.LAB_FIELD_MIN_SESSIONS = 15
    assert cell_gap_get(entry=entry_of(planted, "slow")).flagged


def test_a_cell_without_lab_or_field_says_so(planted):
    field_only = cell_gap_get(entry=entry_of(planted, "field_only"))
    assert field_only.lab is None and field_only.ratio_7d.p95 is None and not field_only.flagged
    assert field_only.field_7d.sessions == 2
    lab_only = cell_gap_get(entry=entry_of(planted, "lab_only"))
    assert lab_only.lab.p95_ms == 12.0 and lab_only.field_30d.sessions == 0 and lab_only.thermal == []


def test_the_list_ranks_flagged_cells_first_then_by_devices(planted):
    gaps = gaps_list()
    assert [gap.cell for gap in gaps] == [planted.key("slow"), planted.key("crowd"), planted.key("hot")]
    assert [(gap.flagged, gap.field_7d.devices) for gap in gaps] == [(True, 3), (False, 120), (False, 8)]
    slow = gaps[0]
    sessions, devices, _, p95 = expected_field(planted, "slow")
    assert (slow.field_7d.sessions, slow.field_7d.devices, slow.entry_id) == (
        sessions,
        devices,
        planted.entry("slow").pk,
    )
    assert close(slow.ratio_7d.p95, p95 / expected_lab(planted, "slow")[1]) and close(slow.ratio_7d.p95, 2.0)
    hot_detail = cell_gap_get(entry=entry_of(planted, "hot"))
    assert gaps[2].ratio_7d == hot_detail.ratio_7d and gaps[2].field_30d == hot_detail.field_30d


def test_the_list_filters_and_orders(planted):
    assert [gap.cell for gap in gaps_list(flagged=True)] == [planted.key("slow")]
    assert [gap.cell for gap in gaps_list(filters={"device_model": "samsung-galaxy-a54"})] == [planted.key("crowd")]
    by_ratio = gaps_list(order="ratio")
    assert [gap.ratio_7d.p95 for gap in by_ratio] == sorted((gap.ratio_7d.p95 for gap in by_ratio), reverse=True)


def test_the_list_reads_a_fixed_number_of_queries(planted, django_assert_num_queries):
    with django_assert_num_queries(6):
        assert len(gaps_list()) == 3
