"""The three roles (Django groups) and the permissions each grants; synced after every migrate."""

import logging

from django.apps import apps
from django.contrib.auth.models import Group, Permission

logger = logging.getLogger(__name__)

VIEWER, SUPPORT, ADMIN = "viewer", "support", "admin"
ROLES = (VIEWER, SUPPORT, ADMIN)
DOMAIN_APPS = ("edgeportal", "compat", "telemetry", "benchmarks", "rollouts")

# Support staff triage field issues and annotate the matrix; they never manage keys or targets.
SUPPORT_PERMISSIONS = (
    "telemetry.triage_crashgroup",
    "compat.override_compatentry",
    "compat.edit_compat_notes",
    "benchmarks.triage_regression",
)
VIEWER_EXCLUDED = ("edgeportal.view_apikey",)


def _perm_names(perms) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in perms}


def role_permissions() -> dict[str, list[Permission]]:
    domain = list(Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS).select_related("content_type"))
    by_name = {f"{p.content_type.app_label}.{p.codename}": p for p in domain}
    viewer = [p for name, p in by_name.items() if p.codename.startswith("view_") and name not in VIEWER_EXCLUDED]
    missing = [name for name in SUPPORT_PERMISSIONS if name not in by_name]
    if missing:
        # post_migrate fires per app, so early calls miss later apps' permissions; the last call has them all.
        logger.debug("Role sync: permissions not defined (yet): %s", missing)
    support = viewer + [by_name[name] for name in SUPPORT_PERMISSIONS if name in by_name]
    user_admin = Permission.objects.filter(content_type__app_label="auth")
    admin = domain + list(user_admin)
    return {VIEWER: viewer, SUPPORT: support, ADMIN: admin}


def roles_sync(**_kwargs) -> None:
    """Creates the role groups and sets their permissions exactly (idempotent)."""
    if not apps.is_installed("django.contrib.auth"):
        return
    for role, perms in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(perms)


def role_needed(permission: str) -> str:
    """The weakest role that holds `permission` (app_label.codename), for telling a user whom to ask."""
    app_label, _, codename = permission.partition(".")
    if codename.startswith("view_") and permission not in VIEWER_EXCLUDED:
        return VIEWER
    return SUPPORT if permission in SUPPORT_PERMISSIONS else ADMIN


def user_role(user) -> str | None:
    """The strongest role a user holds; superusers are admins."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    names = {g.name for g in user.groups.all()}
    for role in (ADMIN, SUPPORT, VIEWER):
        if role in names:
            return role
    return None
