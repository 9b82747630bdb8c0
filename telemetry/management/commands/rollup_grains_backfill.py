from django.core.management.base import BaseCommand

from telemetry.rollups.crash_groups import crash_group_rollups_backfill
from telemetry.rollups.grains import rollup_grains_backfill
from telemetry.rollups.trailing import trailing_rollups_rebuild


class Command(BaseCommand):
    help = (
        "Fills the fleet / device-model / adoption rollup grains and the crash-group rollups for rollups computed "
        "before they existed (once, after migrating), then the dashboards' trailing windows from them."
    )

    def handle(self, *args, **options):
        counts = {**rollup_grains_backfill(), **crash_group_rollups_backfill()}
        counts["trailing windows"] = len(trailing_rollups_rebuild())  # they sum the grains just filled
        self.stdout.write(self.style.SUCCESS(", ".join(f"{n:,} {name}" for name, n in counts.items())))
