from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from telemetry.rollups.partition_copy import raw_plain_tables, table_partition_online
from telemetry.rollups.partitions import raw_partitions_ensure


class Command(BaseCommand):
    help = (
        "PostgreSQL: moves the raw session and crash tables still plain (they held rows when migration 0012 ran) into "
        "day-partitioned tables online, then creates the day partitions ahead. Resumable: run it again after a kill. "
        "Ingest keeps running; it waits only for the final swap (docs/partitioning.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=50_000, help="Rows per copy transaction")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if connection.vendor != "postgresql":
            self.stdout.write("Not PostgreSQL: the raw tables stay plain tables (nothing to do).")
            return
        for plain in raw_plain_tables():
            progress = table_partition_online(plain=plain, batch_size=batch_size)
            self.stdout.write(f"{plain.table}: partitioned ({progress.rows_copied:,} rows copied)")
        created = raw_partitions_ensure()
        self.stdout.write(self.style.SUCCESS(f"{len(created)} day partitions created"))
