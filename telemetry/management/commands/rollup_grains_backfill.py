from django.core.management.base import BaseCommand

from telemetry.rollup_grains import rollup_grains_backfill


class Command(BaseCommand):
    help = "Fills the fleet / device-model / adoption rollup grains for rollups computed before they existed (once)."

    def handle(self, *args, **options):
        counts = rollup_grains_backfill()
        self.stdout.write(self.style.SUCCESS(", ".join(f"{n:,} {name}" for name, n in counts.items())))
