from django.core.management.base import BaseCommand

from telemetry.rollups.fallback import fallback_rollups_backfill


class Command(BaseCommand):
    help = (
        "Fills the fallback rollups (drift's firmware, fallback-op and devices-affected rows) for hours rolled up "
        "before they existed and whose raw sessions are still kept (once, after migrating)."
    )

    def handle(self, *args, **options):
        counts = fallback_rollups_backfill()
        self.stdout.write(self.style.SUCCESS(", ".join(f"{n:,} {name}" for name, n in counts.items())))
