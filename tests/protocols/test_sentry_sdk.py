"""The real sentry-sdk, unchanged, against a live server: what it sends is what the portal reads back."""

import pytest

from protocols.models import ReleaseHealthSession, SentryEvent
from telemetry.models import CrashReport, Device

pytestmark = pytest.mark.django_db(transaction=True)


def test_uncaught_exception_becomes_a_crash_report_with_frames_and_stack(live_dsn, run_sentry_app):
    assert run_sentry_app("uncaught", dsn=live_dsn) == 1

    crash = CrashReport.objects.select_related("model_version", "delegate", "device_model").get()
    assert (crash.kind, crash.exception_type) == ("exception", "ValueError")
    assert "tensor shape mismatch after 7 frames" in crash.message and "hunter2" not in crash.message
    assert crash.frames[0]["function"] == "detector_run" and crash.frames[0]["in_app"] is True
    assert [f["function"] for f in crash.frames][:3] == ["detector_run", "main", "<module>"]
    assert (crash.model_version.version, crash.delegate.slug, crash.device_model.slug) == ("1.4.0", "gpu",
                                                                                          "google-pixel-8")  # fmt: skip
    assert crash.app_version == "3.2.1"
    assert Device.objects.get().uid == "pixel8-000042"
    assert SentryEvent.objects.get(event_id=crash.event_id).handled is False
    session = ReleaseHealthSession.objects.get()
    assert (session.status, session.release, session.device_uid) == ("crashed", "edgeapp@3.2.1", "pixel8-000042")


def test_handled_exception_keeps_its_breadcrumbs_scrubbed(live_dsn, run_sentry_app):
    run_sentry_app("handled", dsn=live_dsn)

    crash = CrashReport.objects.get()
    event = SentryEvent.objects.get(event_id=crash.event_id)
    assert event.handled is True and event.environment == "field"
    messages = [crumb["message"] for crumb in event.breadcrumbs if crumb["category"] in ("camera", "model")]
    assert messages[0] == "opened camera 0"
    assert messages[1].startswith("loaded yolov8n") and "abc123secret" not in messages[1]
    assert ReleaseHealthSession.objects.get().status == "exited"
    assert ReleaseHealthSession.objects.get().errors == 1


def test_release_health_counts_equal_the_sessions_the_apps_ran(live_dsn, run_sentry_app):
    for _ in range(3):
        run_sentry_app("clean", dsn=live_dsn)
    run_sentry_app("handled", dsn=live_dsn)
    run_sentry_app("uncaught", dsn=live_dsn)

    statuses = sorted(ReleaseHealthSession.objects.values_list("status", flat=True))
    assert statuses == ["crashed", "exited", "exited", "exited", "exited"]


def test_crash_after_a_process_restart_is_one_more_crash_of_the_same_group(live_dsn, run_sentry_app):
    run_sentry_app("uncaught", dsn=live_dsn)
    run_sentry_app("clean", dsn=live_dsn)  # the app restarts and runs normally
    run_sentry_app("uncaught", dsn=live_dsn)  # then crashes the same way

    assert CrashReport.objects.count() == 2
    assert CrashReport.objects.values("group").distinct().count() == 1
    assert sorted(ReleaseHealthSession.objects.values_list("status", flat=True)) == ["crashed", "crashed", "exited"]


def test_release_health_api_reads_back_the_crash_free_rate_per_release_and_device_model(
    live_dsn, run_sentry_app, read_client
):
    for _ in range(3):
        run_sentry_app("clean", dsn=live_dsn)
    run_sentry_app("uncaught", dsn=live_dsn)  # its event registers the device (and its model) with the portal
    run_sentry_app("clean", dsn=live_dsn, release="edgeapp@3.3.0")

    response = read_client.get("/api/v1/protocols/release-health/")

    assert response.status_code == 200
    assert response.json()["results"] == [
        {"release": "edgeapp@3.2.1", "device_model": "google-pixel-8", "sessions": 4, "crashed": 1, "abnormal": 0,
         "errored": 0, "crash_free_sessions": 0.75},
        {"release": "edgeapp@3.3.0", "device_model": "google-pixel-8", "sessions": 1, "crashed": 0, "abnormal": 0,
         "errored": 0, "crash_free_sessions": 1.0},
    ]  # fmt: skip


def test_crash_groups_api_counts_the_crashes_the_sdk_sent(live_dsn, run_sentry_app, read_client):
    run_sentry_app("uncaught", dsn=live_dsn)
    run_sentry_app("uncaught", dsn=live_dsn, device_uid="pixel8-000043")

    groups = read_client.get("/api/v1/telemetry/crash-groups/").json()["results"]

    assert len(groups) == 1
    assert (groups[0]["event_count"], groups[0]["device_count"]) == (2, 2)


def test_the_fleet_page_shows_the_release_health_the_sdk_sent(live_dsn, run_sentry_app, client, viewer_user):
    for _ in range(3):
        run_sentry_app("clean", dsn=live_dsn)
    run_sentry_app("uncaught", dsn=live_dsn)  # its event registers the device (and its model) with the portal

    client.force_login(viewer_user)
    response = client.get("/fleet/?range=24h&device_model=google-pixel-8&app_version=3.2.1")

    (row,) = response.context["release_health"].rows
    assert (row.app.release, row.app.device_model, row.app.app_version) == ("edgeapp@3.2.1", "google-pixel-8", "3.2.1")
    assert (row.app.sessions, row.app.crashed, row.app.abnormal, row.app.errored) == (4, 1, 0, 0)
    assert row.app.crash_free_sessions == 0.75
    assert b"Release health (Sentry app sessions)" in response.content and b"75.00 %" in response.content
