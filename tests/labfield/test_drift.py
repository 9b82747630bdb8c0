"""Delegate-fallback drift (docs/lab-field.md) on a planted fleet: selector, page, API, CSV, alert and compat evidence
against an independent reckoning from the planted sessions (tests/labfield/drift_fleet.py)."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compat.models import CompatEntry, CompatEvidence, CompatStatus
from labfield.drift import Rule, drift_list
from labfield.services import DRIFT_SOURCE_REF, drift_evidence_record
from telemetry.alerts.evaluation import alerts_evaluate
from telemetry.models import Alert, AlertKpi, AlertRule, AlertStatus
from tests.telemetry.fleet_factories import catalog_make

from .drift_fleet import (
    DRIFT_DAYS_AGO,
    DRIFT_OPS,
    FIRMWARE,
    MIN_SESSIONS,
    expected_ops,
    expected_parts,
    expected_since,
    ingest,
    lab_runs_create,
    midnight,
    plant,
    recovery_plant,
    weighted_fraction,
    window_sessions,
)

pytestmark = pytest.mark.django_db
LIST = "/api/v1/lab-field/drift/"
# The compat page's own and the gap panel's 21 (2 of them thermal; tests/labfield/test_pages.py), then drift_list's 6.
CELL_PAGE_QUERIES = 27
DRIFT_PAGE_QUERIES = 11  # session and user (2), drift_list's 6, the layout's group and permission reads (3)


@pytest.fixture
def drift_fleet(db, settings):
    settings.LAB_FIELD_DRIFT_MIN_SESSIONS = MIN_SESSIONS
    c = catalog_make()
    fleet = plant(datetime.now(UTC))
    fleet.c = c
    lab_runs_create(c, fleet)
    ingest(fleet, fleet.sessions)
    return fleet


def drift_entry(fleet) -> CompatEntry:
    c = fleet.c
    return CompatEntry.objects.get(
        model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel
    )


def test_the_planted_drift_names_the_ops_the_day_and_the_versions(drift_fleet):
    (drift,) = drift_list()  # the cell without op placement has no row
    assert drift.drifting and drift.lab.accelerated_fraction == 1.0
    assert drift.lab.delegated_ops == ("CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_BILINEAR", "TRANSPOSE_CONV")
    ops, devices = expected_ops(drift_fleet)
    assert [(op.name, op.sessions) for op in drift.ops] == [(name, ops[name][0]) for name in sorted(DRIFT_OPS)]
    assert [op.share for op in drift.ops] == pytest.approx([ops[name][1] for name in sorted(DRIFT_OPS)])
    assert "SOFTMAX" not in {op.name for op in drift.ops}  # falls back in the field, but the lab had no such op
    assert drift.devices_affected == devices == 4
    since_day = midnight(drift_fleet.now).date() - timedelta(days=DRIFT_DAYS_AGO)
    assert drift.since == since_day == expected_since(drift_fleet, "Android 15")
    for rows, attribute in ((drift.os_versions, "os_version"), (drift.app_versions, "app_version"),
                            (drift.firmware, "firmware")):  # fmt: skip
        expected = expected_parts(drift_fleet, attribute)
        assert {row.key: (row.sessions, row.drifting) for row in rows} == {k: (v[0], v[3]) for k, v in expected.items()}
        for row in rows:
            assert row.accelerated_fraction == pytest.approx(expected[row.key][1])
            assert row.points == pytest.approx(expected[row.key][2])
    assert drift.versions(drift.os_versions) == ["Android 15"]
    assert drift.versions(drift.firmware) == [FIRMWARE["Android 15"]]
    assert drift.versions(drift.app_versions) == []  # 3.2.1 is every device's: the whole cell, within 10 points
    whole = window_sessions(drift_fleet)
    assert not drift.field.drifting and drift.field.sessions == len(whole)
    assert drift.field.accelerated_fraction == pytest.approx(weighted_fraction(whole))
    assert drift.drifting_parts == ["OS Android 15", f"firmware {FIRMWARE['Android 15']}"]
    assert drift.worst.points == pytest.approx(expected_parts(drift_fleet, "os_version")["Android 15"][2])


def test_page_api_and_csv_show_the_same_numbers(drift_fleet, client, viewer_user, read_client):
    entry = drift_entry(drift_fleet)
    rows = read_client.get(LIST).json()["results"]
    assert [row["cell_id"] for row in rows] == [entry.pk]
    api = rows[0]
    ops, devices = expected_ops(drift_fleet)
    android_15 = expected_parts(drift_fleet, "os_version")["Android 15"]
    assert api["fallback_ops"] == [
        {"name": name, "sessions": ops[name][0], "share": round(ops[name][1], 4)} for name in sorted(DRIFT_OPS)
    ]
    assert (api["devices_affected"], api["os_versions"], api["firmware"], api["app_versions"]) == (
        devices, ["Android 15"], [FIRMWARE["Android 15"]], [],
    )  # fmt: skip
    assert api["since"] == str(expected_since(drift_fleet, "Android 15"))
    assert api["worst_points"] == round(android_15[2], 2) and api["lab"]["accelerated_fraction"] == 1.0
    detail = read_client.get(f"{LIST}{entry.pk}/").json()
    assert {row["key"]: row["points"] for row in detail["os_split"]} == {
        key: round(value[2], 2) for key, value in expected_parts(drift_fleet, "os_version").items()
    }
    assert detail["raw_sessions"] == len(window_sessions(drift_fleet))

    client.force_login(viewer_user)
    (csv_row,) = list(csv.DictReader(io.StringIO(client.get("/lab-field/drift.csv").content.decode())))
    assert csv_row["fallback_ops"] == "; ".join(f"{op['name']} ({op['share']})" for op in api["fallback_ops"])
    assert float(csv_row["worst_drop_points"]) == api["worst_points"]
    assert (csv_row["since"], csv_row["os_versions"], csv_row["devices_affected"]) == (api["since"], "Android 15", "4")
    page = client.get("/lab-field/drift/").content.decode()
    share = f"{round(ops['RESIZE_BILINEAR'][1], 4) * 100:.2f} %"
    assert f"RESIZE_BILINEAR ({share})" in page and f"{api['worst_points']:.2f}" in page
    cell_page = client.get(f"/compat/cell/{entry.pk}/").content.decode()
    assert 'id="drift"' in cell_page and "OS Android 15" in cell_page and api["since"] in cell_page
    assert f'<td>RESIZE_BILINEAR</td><td class="num">{ops["RESIZE_BILINEAR"][0]}</td>' in cell_page


def test_a_cell_whose_lab_run_reports_no_op_placement_has_no_drift_row(drift_fleet, read_client, client, viewer_user):
    c = drift_fleet.c
    entry = CompatEntry.objects.get(model_version=c.v2, runtime_version=c.tflite_216, delegate=c.gpu,
                                    device_model=c.pixel)  # fmt: skip
    assert all(row.labels.model_version != "1.5.0" for row in drift_list())
    assert read_client.get(LIST, {"model_version": "1.5.0"}).json()["count"] == 0
    response = read_client.get(f"{LIST}{entry.pk}/")
    assert response.status_code == 404 and "op placement" in response.json()["detail"]
    client.force_login(viewer_user)
    assert "No lab run reporting op placement" in client.get(f"/compat/cell/{entry.pk}/").content.decode()


def test_a_run_whose_ops_have_unknown_delegates_reports_no_placement(drift_fleet):
    run = drift_fleet.runs["1.4.0"]
    type(run).objects.filter(pk=run.pk).update(accelerated_fraction=None)  # what an importer leaves when unknown
    assert drift_list() == []


def test_the_alert_opens_once_degrades_the_cell_and_both_clear_when_the_field_recovers(
    drift_fleet, client, viewer_user
):
    rule = AlertRule.objects.get(kpi=AlertKpi.DELEGATE_FALLBACK_DRIFT)  # the default rule (telemetry 0012)
    AlertRule.objects.exclude(pk=rule.pk).update(enabled=False)  # the KPI rules judge this cell too
    now = datetime.now(UTC)
    first = alerts_evaluate(now=now)
    c = drift_fleet.c
    key = f"{c.pixel.pk}|{c.v1.pk}|{c.tflite_216.pk}|{c.gpu.pk}"
    assert first.opened == [key]
    alert = Alert.objects.get(rule=rule)
    android_15 = expected_parts(drift_fleet, "os_version")["Android 15"]
    assert alert.value == pytest.approx(android_15[2]) and alert.threshold == 10.0
    assert alert.sessions == android_15[0] and "RESIZE_BILINEAR, TRANSPOSE_CONV fall back" in alert.cohort_label
    second = alerts_evaluate(now=now + timedelta(minutes=5))  # re-evaluation refreshes, never opens a second
    assert second.opened == [] and second.refreshed == 1 and Alert.objects.filter(rule=rule).count() == 1

    assert drift_entry(drift_fleet).derived_status == CompatStatus.SUPPORTED  # the cell as a whole meets the SLOs
    assert drift_evidence_record() == {"drifting": 1, "cleared": 0}
    entry = drift_entry(drift_fleet)
    assert entry.derived_status == CompatStatus.DEGRADED
    assert "RESIZE_BILINEAR, TRANSPOSE_CONV ran on the accelerator in the lab" in entry.derived_reason
    assert f"since {expected_since(drift_fleet, 'Android 15')}" in entry.derived_reason
    assert "on OS Android 15; firmware AP4A.250105.002" in entry.derived_reason
    assert CompatEvidence.objects.get(entry=entry, source_ref=DRIFT_SOURCE_REF).degraded_reason
    client.force_login(viewer_user)
    assert (
        '<span class="badge status-degraded">degrades</span> delegate-fallback drift'
        in client.get(f"/compat/cell/{entry.pk}/").content.decode()
    )  # the evidence table says which item degrades the cell
    assert drift_evidence_record() == {"drifting": 1, "cleared": 0}  # idempotent: one evidence item
    assert CompatEvidence.objects.filter(entry=entry, source_ref=DRIFT_SOURCE_REF).count() == 1

    ingest(drift_fleet, recovery_plant(drift_fleet))
    assert not expected_parts(drift_fleet, "os_version")["Android 15"][3]  # the reckoning agrees it recovered
    third = alerts_evaluate(now=now + timedelta(minutes=10))
    assert third.resolved == [key] and Alert.objects.get(rule=rule).status == AlertStatus.RESOLVED
    assert drift_evidence_record() == {"drifting": 0, "cleared": 1}
    entry = drift_entry(drift_fleet)
    assert entry.derived_status == CompatStatus.SUPPORTED
    assert not CompatEvidence.objects.filter(entry=entry, source_ref=DRIFT_SOURCE_REF).exists()


def test_cells_the_rollups_show_within_the_points_read_no_raw_rows(drift_fleet, django_assert_num_queries):
    with django_assert_num_queries(4):  # lab runs, their ops, daily rollups, compat entries
        (drift,) = drift_list(rule=Rule(points=50.0, min_sessions=MIN_SESSIONS))  # no day is 50 points below
    assert not drift.drifting and drift.ops == [] and drift.firmware == [] and drift.raw_sessions == 0


def test_a_rule_threshold_overrides_the_setting(drift_fleet):
    AlertRule.objects.exclude(kpi=AlertKpi.DELEGATE_FALLBACK_DRIFT).update(enabled=False)
    AlertRule.objects.filter(kpi=AlertKpi.DELEGATE_FALLBACK_DRIFT).update(threshold=25.0)
    assert alerts_evaluate(now=datetime.now(UTC)).opened == []  # Android 15 is ~20 points below: under 25


@pytest.mark.parametrize(
    "params, name",
    [({"drifting": "maybe"}, "drifting"), ({"order": "worst"}, "order"), ({"delegate": "x"}, "delegate")],
)
def test_bad_parameters_are_a_400_naming_them(drift_fleet, read_client, client, viewer_user, params, name):
    response = read_client.get(LIST, params)
    assert response.status_code == 400 and name in response.json()["detail"]
    client.force_login(viewer_user)
    assert client.get("/lab-field/drift/", params).status_code == 400
    assert client.get("/lab-field/drift.csv", params).status_code == 400


def test_filters_and_orders(drift_fleet, read_client):
    assert read_client.get(LIST, {"drifting": "false"}).json()["count"] == 0
    assert read_client.get(LIST, {"drifting": "true", "order": "points"}).json()["count"] == 1
    assert read_client.get(LIST, {"device_model": "samsung-galaxy-a54"}).json()["count"] == 0


def more_drift_cells(fleet, *, count=2):
    """More cells with op placement and drifting field sessions (new model versions): the reads must not grow."""
    from compat.models import ModelVersion

    for i in range(count):
        version = f"2.{i}.0"
        ModelVersion.objects.create(ml_model=fleet.c.yolo, version=version)
        extra = plant(fleet.now)
        for session in extra.sessions:
            session.model_version = version
            session.uid = f"{session.uid}-{version}"
        fleet.devices.update({f"{uid}-{version}": device for uid, device in extra.devices.items()})
        fleet.sessions += extra.sessions
        lab_runs_create(fleet.c, fleet, model_version=version, without_placement=None)
    ingest(fleet, [s for s in fleet.sessions if s.model_version.startswith("2.")])


def test_query_counts_do_not_grow_with_cells(drift_fleet, read_client, client, viewer_user):
    client.force_login(viewer_user)
    entry = drift_entry(drift_fleet)

    def queries(url, http):
        http.get(url)  # a key's first use of a minute records its last use: one more write
        with CaptureQueriesContext(connection) as captured:
            assert http.get(url).status_code == 200
        return len(captured)

    before = {url: queries(url, http) for url, http in (
        (LIST, read_client), ("/lab-field/drift/", client), (f"/compat/cell/{entry.pk}/", client))}  # fmt: skip
    assert before[LIST] == 7  # the key lookup, then the 6 reads of drift_list
    assert before[f"/compat/cell/{entry.pk}/"] == CELL_PAGE_QUERIES
    assert before["/lab-field/drift/"] == DRIFT_PAGE_QUERIES
    more_drift_cells(drift_fleet)
    assert read_client.get(LIST).json()["count"] >= 2
    after = {url: queries(url, http) for url, http in (
        (LIST, read_client), ("/lab-field/drift/", client), (f"/compat/cell/{entry.pk}/", client))}  # fmt: skip
    assert after == before


def test_the_periodic_task_records_the_evidence(drift_fleet):
    from labfield.tasks import drift_evidence_task

    assert drift_evidence_task.delay().get() == {"drifting": 1, "cleared": 0}
    assert drift_entry(drift_fleet).derived_status == CompatStatus.DEGRADED
