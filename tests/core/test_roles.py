import pytest
from django.contrib.auth.models import Group

from core.roles import roles_sync, user_role

pytestmark = pytest.mark.django_db


def _perms(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_migrate_creates_the_three_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "support", "admin"}


def test_viewer_reads_everything_but_api_keys_and_changes_nothing():
    perms = _perms("viewer")
    assert "compat.view_compatentry" in perms
    assert "edgeportal.view_apikey" not in perms
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in perms)


def test_support_is_viewer_plus_triage_and_compat_notes():
    support, viewer = _perms("support"), _perms("viewer")
    assert viewer < support
    assert {"compat.override_compatentry", "compat.edit_compat_notes"} <= support
    assert "edgeportal.add_apikey" not in support
    assert "edgeportal.change_slotarget" not in support


def test_admin_manages_keys_targets_and_users():
    assert {"edgeportal.add_apikey", "edgeportal.change_slotarget", "auth.change_user"} <= _perms("admin")


def test_roles_sync_is_idempotent():
    before = {name: _perms(name) for name in ("viewer", "support", "admin")}
    roles_sync()
    roles_sync()
    assert {name: _perms(name) for name in ("viewer", "support", "admin")} == before


def test_user_role_picks_the_strongest(viewer_user, roles):
    assert user_role(viewer_user) == "viewer"
    viewer_user.groups.add(roles["support"])
    assert user_role(viewer_user) == "support"
