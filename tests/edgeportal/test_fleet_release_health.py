"""The fleet page shows Sentry release health (app sessions per release × device model) beside the inference-session
crash-free rate of the same app version and device model, composed by the project: telemetry's own view has none."""

import uuid
from collections import defaultdict
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from protocols.models import ReleaseHealthAggregate, ReleaseHealthSession
from protocols.selectors import RELEASE_HEALTH_RELATION
from telemetry.kpi.buckets import range_snap
from telemetry.models import Device, InferenceSession
from tests.telemetry.test_fleet_pages import fleet  # noqa: F401  (the fixture: 30 hours of Pixel and Galaxy sessions)

pytestmark = pytest.mark.django_db
HEADING = b"Release health (Sentry app sessions)"


def _session(*, uid: str, release: str, status: str, at, errors: int = 0) -> dict:
    ReleaseHealthSession.objects.create(sid=uuid.uuid4(), device_uid=uid, release=release, started=at, updated=at,
                                        status=status, errors=errors, received_at=at)  # fmt: skip
    return {"uid": uid, "release": release, "status": status, "errors": errors, "at": at, "count": 1}


def _aggregate(*, uid: str, release: str, at, exited=0, errored=0, abnormal=0, crashed=0) -> dict:
    ReleaseHealthAggregate.objects.create(digest=uuid.uuid4().hex, device_uid=uid, release=release, started=at,
                                          exited=exited, errored=errored, abnormal=abnormal, crashed=crashed,
                                          received_at=at)  # fmt: skip
    return {"uid": uid, "release": release, "at": at, "aggregate": (exited, errored, abnormal, crashed)}


@pytest.fixture
def app_sessions(fleet):  # noqa: F811
    """Planted app sessions of the fleet's devices (Pixels on 3.2.1, Galaxies on 3.3.0), one of a device the portal
    has not seen, a near-miss release (13.2.1), an aggregate bucket, and one session before the range."""
    pixels = list(Device.objects.filter(device_model=fleet.pixel).values_list("uid", flat=True))
    galaxies = list(Device.objects.filter(device_model=fleet.galaxy).values_list("uid", flat=True))
    at = fleet.start + timedelta(hours=4)
    planted = [
        _session(uid=pixels[0], release="edgeapp@3.2.1", status="exited", at=at),
        _session(uid=pixels[0], release="edgeapp@3.2.1", status="exited", at=at, errors=2),
        _session(uid=pixels[1], release="edgeapp@3.2.1", status="crashed", at=at, errors=1),
        _session(uid=pixels[2], release="edgeapp@3.2.1", status="abnormal", at=at),
        _session(uid=pixels[2], release="edgeapp@3.2.1", status="errored", at=at),
        _session(uid=pixels[2], release="edgeapp@3.2.1", status="ok", at=at + timedelta(hours=20)),
        _session(uid=galaxies[0], release="edgeapp@3.3.0", status="crashed", at=at),
        _session(uid=galaxies[1], release="edgeapp@3.3.0", status="exited", at=at),
        _session(uid="never-seen-1", release="edgeapp@3.2.1", status="crashed", at=at),
        _session(uid=pixels[0], release="edgeapp@13.2.1", status="exited", at=at),
        _aggregate(uid=galaxies[1], release="edgeapp@3.3.0", at=at, exited=5, errored=1, abnormal=1, crashed=2),
    ]
    _session(uid=pixels[0], release="edgeapp@3.2.1", status="crashed", at=fleet.start - timedelta(days=10))
    return planted


def _expected_app_rows(planted: list[dict], *, keep=lambda release, model: True) -> dict:
    """Sentry's definitions counted by hand from the planted rows: errored = errored status, or errors in a session
    that ended well; crash-free = 1 − crashed ÷ sessions."""
    model_of = dict(Device.objects.values_list("uid", "device_model__slug"))
    rows: dict = defaultdict(lambda: {"sessions": 0, "crashed": 0, "abnormal": 0, "errored": 0})
    for p in planted:
        key = (p["release"], model_of.get(p["uid"], ""))
        if not keep(*key):
            continue
        row = rows[key]
        if "aggregate" in p:
            exited, errored, abnormal, crashed = p["aggregate"]
            row["sessions"] += exited + errored + abnormal + crashed
            row["crashed"] += crashed
            row["abnormal"] += abnormal
            row["errored"] += errored
            continue
        row["sessions"] += 1
        row["crashed"] += p["status"] == "crashed"
        row["abnormal"] += p["status"] == "abnormal"
        row["errored"] += p["status"] == "errored" or (p["errors"] > 0 and p["status"] in ("ok", "exited"))
    for row in rows.values():
        row["crash_free_sessions"] = 1 - row["crashed"] / row["sessions"]
    return dict(rows)


def _expected_inference(response, *, app_version: str, device_model: str, **filters) -> tuple[int, int]:
    """(sessions, crashed) of the raw inference sessions of that app version on that device model in the range."""
    start, end = range_snap(response.context["scope"].time_range.start, response.context["scope"].time_range.end)
    sessions = InferenceSession.objects.filter(started_at__gte=start, started_at__lt=end, app_version=app_version,
                                               device_model__slug=device_model, **filters)  # fmt: skip
    return sessions.count(), sessions.filter(has_crash=True).count()


def _panel(response) -> dict:
    panel = response.context["release_health"]
    return {(row.app.release, row.app.device_model): row for row in panel.rows}


def test_every_app_session_figure_equals_a_count_of_the_raw_rows(client, viewer_user, app_sessions):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d")
    shown = _panel(response)
    expected = _expected_app_rows(app_sessions)
    assert set(shown) == set(expected) == {
        ("edgeapp@3.2.1", "google-pixel-8"), ("edgeapp@3.2.1", ""), ("edgeapp@3.3.0", "samsung-galaxy-a54"),
        ("edgeapp@13.2.1", "google-pixel-8"),
    }  # fmt: skip
    for key, row in shown.items():
        got = {field: getattr(row.app, field) for field in expected[key]}
        assert got == pytest.approx(expected[key]), key
    assert shown[("edgeapp@3.2.1", "google-pixel-8")].app.app_version == "3.2.1"
    assert expected[("edgeapp@3.3.0", "samsung-galaxy-a54")]["sessions"] == 11  # the aggregate bucket counts


def test_the_inference_crash_free_rate_beside_each_row_is_that_app_version_on_that_device_model(
    client, viewer_user, app_sessions
):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d")
    shown = _panel(response)
    for (release, device_model), row in shown.items():
        sessions, crashed = _expected_inference(response, app_version=row.app.app_version, device_model=device_model)
        assert (row.inference_sessions, row.inference_crashed) == (sessions, crashed), release
        assert row.inference_crash_free == (pytest.approx(1 - crashed / sessions) if sessions else None)
    galaxy = shown[("edgeapp@3.3.0", "samsung-galaxy-a54")]
    assert (galaxy.inference_sessions, galaxy.inference_crashed) == (60, 2)
    assert shown[("edgeapp@3.2.1", "")].inference_sessions == 0  # a device of unknown model has no inference pair
    assert shown[("edgeapp@13.2.1", "google-pixel-8")].inference_sessions == 0


def test_the_page_shows_the_figures_and_the_relation(client, viewer_user, app_sessions):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d")
    html = response.content.decode()
    assert HEADING.decode() in html and RELEASE_HEALTH_RELATION in html
    assert response.context["release_health"].relation == RELEASE_HEALTH_RELATION
    row = html.split("<td>edgeapp@3.3.0</td>", 1)[1].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1] for cell in row.split("</td>")[:-1]]
    assert cells == ["samsung-galaxy-a54", "11", "3", "1", "1", "72.73 %", "60", "96.67 %"]
    assert "(not yet known)" in html  # the device the portal has not seen


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("device_model=samsung-galaxy-a54", lambda release, model: model == "samsung-galaxy-a54"),
        ("app_version=3.2.1", lambda release, model: release == "edgeapp@3.2.1"),
        ("app_version=3.2.1&device_model=google-pixel-8", lambda r, m: (r, m) == ("edgeapp@3.2.1", "google-pixel-8")),
    ],
)
def test_device_model_and_app_version_filters_narrow_the_app_sessions(client, viewer_user, app_sessions, query, keep):
    client.force_login(viewer_user)
    response = client.get(f"/fleet/?range=7d&{query}")
    shown = _panel(response)
    expected = _expected_app_rows(app_sessions, keep=keep)
    assert set(shown) == set(expected)
    for key, row in shown.items():
        assert (row.app.sessions, row.app.crashed) == (expected[key]["sessions"], expected[key]["crashed"])
    assert response.context["release_health"].unapplied_filters == []


def test_other_filters_narrow_only_the_inference_column_and_are_named(client, viewer_user, app_sessions):
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d&model_version=1.5.0&model=yolov8n")
    shown = _panel(response)
    assert set(shown) == set(_expected_app_rows(app_sessions))  # app sessions know no model version
    pixel = shown[("edgeapp@3.2.1", "google-pixel-8")]
    assert pixel.inference_sessions == 0  # the Pixels ran 1.4.0 only
    galaxy = shown[("edgeapp@3.3.0", "samsung-galaxy-a54")]
    sessions, crashed = _expected_inference(response, app_version="3.3.0", device_model="samsung-galaxy-a54",
                                            model_version__version="1.5.0")  # fmt: skip
    assert (galaxy.inference_sessions, galaxy.inference_crashed) == (sessions, crashed) == (60, 2)
    assert response.context["release_health"].unapplied_filters == ["model", "model_version"]
    assert b"these filters narrow the inference-session columns only: model, model_version" in response.content


def test_no_panel_without_app_sessions_in_scope(client, viewer_user, fleet):  # noqa: F811
    client.force_login(viewer_user)
    response = client.get("/fleet/?range=7d")
    assert response.context["release_health"] is None and HEADING not in response.content
    _session(uid="x", release="edgeapp@3.2.1", status="exited", at=fleet.start - timedelta(days=10))
    response = client.get("/fleet/?range=7d")
    assert response.context["release_health"] is None and HEADING not in response.content


def test_telemetrys_own_view_has_no_panel(viewer_user, app_sessions):
    from telemetry.fleet import views as fleet_views

    request = RequestFactory().get("/fleet/?range=7d")
    request.user = viewer_user
    response = fleet_views.fleet_health(request)
    assert response.status_code == 200 and HEADING not in response.content


def test_the_panel_costs_the_same_queries_whatever_its_rows(client, viewer_user, app_sessions, fleet):  # noqa: F811
    client.force_login(viewer_user)
    client.get("/fleet/?range=7d")
    with CaptureQueriesContext(connection) as few:
        client.get("/fleet/?range=7d")
    at = fleet.start + timedelta(hours=5)
    for n in range(20):  # more releases, on more devices and device models
        _session(uid=f"new-{n}", release=f"edgeapp@4.{n}.0", status="exited", at=at)
        _aggregate(uid=Device.objects.first().uid, release=f"edgeapp@4.{n}.0", at=at, exited=3, crashed=1)
    with CaptureQueriesContext(connection) as many:
        response = client.get("/fleet/?range=7d")
    assert len(response.context["release_health"].rows) == len(_panel(response)) == 4 + 40
    assert len(many) == len(few)
    release_health_reads = [q for q in many.captured_queries if "protocols_releasehealth" in q["sql"]]
    assert len(release_health_reads) == 2  # individual sessions, aggregate buckets


def test_without_release_health_the_panel_costs_its_two_reads_only(client, viewer_user, fleet):  # noqa: F811
    client.force_login(viewer_user)
    client.get("/fleet/?range=7d")
    with CaptureQueriesContext(connection) as without:
        client.get("/fleet/?range=7d")
    assert sum("protocols_releasehealth" in q["sql"] for q in without.captured_queries) == 2
