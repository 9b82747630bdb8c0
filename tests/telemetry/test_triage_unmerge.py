"""Triage: fixed-in versions that parse, reopen as its own audit kind, merge behind a confirm step, and unmerge."""

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from telemetry.models import (
    CrashGroup,
    CrashGroupAlias,
    CrashGroupAuditEvent,
    CrashGroupDevice,
    CrashReport,
    DailyCrashGroupRollup,
    HourlyCrashGroupRollup,
)
from telemetry.support import triage

from .fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _state(group_id: int) -> dict:
    """A group's stored counters next to a brute-force recount from its raw rows and rollups."""
    group = CrashGroup.objects.get(pk=group_id)
    crashes = CrashReport.objects.filter(group=group)
    return {
        "event_count": group.event_count, "device_count": group.device_count,
        "first_seen_at": group.first_seen_at, "last_seen_at": group.last_seen_at, "status": group.status,
        "fingerprint": group.fingerprint, "title": group.title,
        "raw_events": crashes.count(), "raw_devices": crashes.values("device").distinct().count(),
        "device_rows": sorted(CrashGroupDevice.objects.filter(group=group).values_list("device_id", flat=True)),
        "aliases": sorted(CrashGroupAlias.objects.filter(group=group).values_list("fingerprint", flat=True)),
        "hourly": HourlyCrashGroupRollup.objects.filter(group=group).aggregate(n=Sum("events"))["n"],
        "daily": DailyCrashGroupRollup.objects.filter(group=group).aggregate(n=Sum("events"))["n"],
    }  # fmt: skip


@pytest.mark.parametrize("version", ["3.2.2", "3.3.0rc1", "10.0", "2026.12.1"])
def test_resolved_in_version_accepts_versions(c, support_user, version):
    group = crash_group_make(c, devices=[device_make(c)], rollup=False)
    triage.crash_group_resolve(group_id=group.pk, user=support_user, resolved_in_version=version)
    assert CrashGroup.objects.get(pk=group.pk).resolved_in_version == version


@pytest.mark.parametrize("text", ["next release", "v3.2.2-hotfix!", "3.2.2 or later"])
def test_resolved_in_version_refuses_text_that_is_not_a_version(c, support_user, client, text):
    group = crash_group_make(c, devices=[device_make(c)], rollup=False)
    with pytest.raises(ValidationError):
        triage.crash_group_resolve(group_id=group.pk, user=support_user, resolved_in_version=text)
    response = _api(support_user).patch(
        f"/api/v1/telemetry/crash-groups/{group.pk}/",
        {"status": "resolved", "resolved_in_version": text},
        format="json",
    )
    assert response.status_code == 400 and "resolved_in_version" in response.json()["detail"]
    client.force_login(support_user)
    page = client.post(f"/crashes/{group.pk}/triage/", {"action": "resolve", "resolved_in_version": text}, follow=True)
    assert "is not a version" in page.content.decode()
    assert CrashGroup.objects.get(pk=group.pk).status == "new"


def test_resolve_form_suggests_the_app_versions_seen(c, support_user, client):
    group = crash_group_make(c, devices=[device_make(c, app_version="3.1.0"), device_make(c, app_version="3.2.1")])
    client.force_login(support_user)
    html = client.get(f"/crashes/{group.pk}/").content.decode()
    assert 'list="seen-app-versions"' in html
    assert '<option value="3.2.1">' in html and '<option value="3.1.0">' in html


def test_reopen_is_its_own_audit_event_on_the_page_and_the_api(c, support_user, client):
    group = crash_group_make(c, devices=[device_make(c)], rollup=False)
    triage.crash_group_resolve(group_id=group.pk, user=support_user, resolved_in_version="3.2.2")
    client.force_login(support_user)
    client.post(f"/crashes/{group.pk}/triage/", {"action": "reopen"})
    triage.crash_group_ignore(group_id=group.pk, user=support_user)
    _api(support_user).patch(f"/api/v1/telemetry/crash-groups/{group.pk}/", {"status": "triaged"}, format="json")
    actions = list(
        CrashGroupAuditEvent.objects.filter(crash_group=group).order_by("id").values_list("action", flat=True)
    )
    assert actions == ["resolve", "reopen", "ignore", "reopen"]
    assert CrashGroup.objects.get(pk=group.pk).status == "triaged"


def test_merge_on_the_page_asks_for_confirmation_first(c, support_user, client):
    target = crash_group_make(c, devices=[device_make(c)], rollup=False)
    source = crash_group_make(c, devices=[device_make(c)], rollup=False, title="the duplicate")
    client.force_login(support_user)
    response = client.post(f"/crashes/{target.pk}/triage/", {"action": "merge", "source": source.pk})
    html = response.content.decode()
    assert response.status_code == 200 and "the duplicate" in html and 'name="confirm" value="yes"' in html
    assert "csrfmiddlewaretoken" in html and not re.search(r"<script(?![^>]*\bsrc=)", html) and " onclick=" not in html
    assert CrashGroup.objects.filter(pk=source.pk).exists()  # nothing merged yet


def test_unmerge_round_trip_restores_both_groups_exactly(c, support_user):
    at = timezone.now() - timedelta(hours=3)
    shared, only_target, only_source = device_make(c), device_make(c), device_make(c)
    target = crash_group_make(c, devices=[shared, only_target], at=at - timedelta(hours=1))
    source = crash_group_make(c, devices=[shared, only_source], crashes_per_device=2, at=at, status="resolved",
                              resolved_in_version="3.2.2", title="dup")  # fmt: skip
    older = crash_group_make(c, devices=[only_source], at=at)
    triage.crash_group_merge(target_id=source.pk, source_id=older.pk, user=support_user)  # an alias to carry
    before = {group_id: _state(group_id) for group_id in (target.pk, source.pk)}

    triage.crash_group_merge(target_id=target.pk, source_id=source.pk, user=support_user)
    merged = _state(target.pk)
    assert merged["event_count"] == merged["raw_events"] == before[target.pk]["event_count"] + 5
    assert not CrashGroup.objects.filter(pk=source.pk).exists()

    restored = triage.crash_group_unmerge(target_id=target.pk, source_id=source.pk, user=support_user)

    assert restored.pk == source.pk
    after = {group_id: _state(group_id) for group_id in (target.pk, source.pk)}
    assert after == before
    for state in after.values():  # the counters agree with a recount of the raw rows
        assert state["event_count"] == state["raw_events"] == state["daily"]
        assert state["device_count"] == state["raw_devices"] == len(state["device_rows"])
    assert (
        list(CrashGroupAuditEvent.objects.filter(crash_group=target).values_list("action", flat=True))[0] == "unmerge"
    )
    with pytest.raises(ValidationError):  # once only
        triage.crash_group_unmerge(target_id=target.pk, source_id=source.pk, user=support_user)


def test_unmerge_through_the_page_and_the_api(c, support_user, client):
    target = crash_group_make(c, devices=[device_make(c)])
    source = crash_group_make(c, devices=[device_make(c)])
    client.force_login(support_user)
    client.post(f"/crashes/{target.pk}/triage/", {"action": "merge", "source": source.pk, "confirm": "yes"})
    page = client.get(f"/crashes/{target.pk}/").content.decode()
    assert "Undo merge" in page and 'name="action" value="unmerge"' in page
    client.post(f"/crashes/{target.pk}/triage/", {"action": "unmerge", "source": source.pk})
    assert CrashGroup.objects.filter(pk=source.pk).exists()
    assert "Undo merge" not in client.get(f"/crashes/{target.pk}/").content.decode()

    api = _api(support_user)
    merge = api.post(f"/api/v1/telemetry/crash-groups/{target.pk}/merge/", {"source": source.pk}, format="json")
    assert merge.status_code == 200
    response = api.post(f"/api/v1/telemetry/crash-groups/{target.pk}/unmerge/", {"source": source.pk}, format="json")
    assert response.status_code == 201 and response.json()["id"] == source.pk
    again = api.post(f"/api/v1/telemetry/crash-groups/{target.pk}/unmerge/", {"source": source.pk}, format="json")
    assert again.status_code == 400
