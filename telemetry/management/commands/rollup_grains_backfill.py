from django.core.management.base import BaseCommand

from telemetry.rollups.crash_groups import crash_group_rollups_backfill
from telemetry.rollups.grains import rollup_grains_backfill


class Command(BaseCommand):
    help = (
        "Fills the fleet / device-model / adoption rollup grains and the crash-group rollups for rollups computed "
        "before they existed (once, after migrating)."
    )

    def handle(self, *args, **options):
        counts = {**rollup_grains_backfill(), **crash_group_rollups_backfill()}
        self.stdout.write(self.style.SUCCESS(", ".join(f"{n:,} {name}" for name, n in counts.items())))
