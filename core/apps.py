from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """The foundation every app builds on: roles, permissions, API keys and their authentication, SLO targets.

    Its label stays "edgeportal" (where these models lived first), so tables, migrations and permission codenames
    are unchanged.
    """

    name = "core"
    label = "edgeportal"
    verbose_name = "EdgePortal"

    def ready(self) -> None:
        from . import fleets, schema  # noqa: F401  (the fleet-limit cache signals; the OpenAPI auth extension)
        from .roles import roles_sync

        # Permissions of every app exist only after migrate; roles are set from them each time.
        post_migrate.connect(roles_sync, dispatch_uid="edgeportal.roles_sync")
