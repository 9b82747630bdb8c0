from django.core.management.base import BaseCommand

from telemetry.rollups.thermal import thermal_rollups_backfill


class Command(BaseCommand):
    help = (
        "Fills the thermal rollups (the thermal and energy attribution's rows per cell and thermal state, and their "
        "devices) for hours rolled up before they existed and whose raw sessions are still kept (once, after migrating)."
    )

    def handle(self, *args, **options):
        counts = thermal_rollups_backfill()
        self.stdout.write(self.style.SUCCESS(", ".join(f"{n:,} {name}" for name, n in counts.items())))
