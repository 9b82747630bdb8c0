import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from core.roles import ADMIN, ROLES, SUPPORT, VIEWER, roles_sync

DEMO_USERS = (("admin", ADMIN), ("support", SUPPORT), ("pm", VIEWER))


class Command(BaseCommand):
    help = "Seeds the demo: one user per role (passwords printed), the catalog, lab history and a simulated fleet."

    def add_arguments(self, parser):
        parser.add_argument("--small", action="store_true", help="A smaller fleet and lab history (tests, quick looks)")

    def handle(self, *args, small: bool, **options):
        roles_sync()
        with transaction.atomic():
            self._users()
        for step in self._steps():
            self.stdout.write(f"== {step.__doc__ or step.__name__}")
            step(small=small, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _steps(self):
        # Each app seeds its own rooms; the order follows the dependencies (catalog first).
        from benchmarks import demo as benchmarks_demo
        from compat import demo as compat_demo
        from telemetry import demo as telemetry_demo

        return [compat_demo.step, telemetry_demo.step, benchmarks_demo.step]

    def _users(self):
        groups = {group.name: group for group in Group.objects.filter(name__in=ROLES)}
        for username, role in DEMO_USERS:
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = role == ADMIN
            user.is_superuser = role == ADMIN
            user.save()
            user.groups.set([groups[role]])
            self.stdout.write(f"   user {username!r:10} role {role:8} password {password}")
