import secrets
import time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from benchmarks import demo as benchmarks_demo
from compat import demo as compat_demo
from core.progress import ProgressBar
from core.roles import ADMIN, ROLES, SUPPORT, VIEWER, roles_sync
from rollouts import demo as rollouts_demo
from telemetry import demo as telemetry_demo

DEMO_USERS = (("admin", ADMIN), ("support", SUPPORT), ("pm", VIEWER))
SIZES = ("small", "standard", "full")
# Each app seeds its own rooms; the order follows the dependencies (catalog first).
STEPS = (compat_demo.step, telemetry_demo.step, benchmarks_demo.step, rollouts_demo.step)


class Command(BaseCommand):
    help = "Seeds the demo: one user per role (passwords printed), the catalog, lab history and a simulated fleet."

    def add_arguments(self, parser):
        parser.add_argument(
            "--size",
            choices=SIZES,
            default="standard",
            help="small: 40 devices × 3 days (tests); standard: 120 devices × 7 days (make demo); full: 300 × 14 and "
            "two simulated rollouts",
        )
        parser.add_argument("--small", action="store_true", help="Same as --size small")

    def handle(self, *args, size: str, small: bool, **options):
        size = "small" if small else size
        began = time.monotonic()
        roles_sync()
        with transaction.atomic():
            self._users()
        for number, step in enumerate(STEPS, start=1):
            self.stdout.write(f"== step {number}/{len(STEPS)}: {step.__doc__ or step.__name__}")
            step(size=size, stdout=self.stdout, progress=self._progress)
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({size}) in {time.monotonic() - began:.0f} s."))

    def _progress(self, label: str, total: int, unit: str = "") -> ProgressBar:
        return ProgressBar(self.stdout, label, total, unit)

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
