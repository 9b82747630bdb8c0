import os

from django.core.management.base import BaseCommand, CommandError

from telemetry.demo import fleet_simulate


class Command(BaseCommand):
    help = "Posts a simulated fleet (with planted bad cohorts) through the real HTTP ingest API, then rolls it up."

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=100)
        parser.add_argument("--days", type=float, default=7)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--base-url", help="Post to this server (default: a local WSGI server in a thread)")
        parser.add_argument("--api-key", default=os.environ.get("EDGEPORTAL_API_KEY"), help="Ingest key for --base-url")

    def handle(self, *args, devices, days, seed, base_url, api_key, **options):
        if devices < 1 or days <= 0:
            raise CommandError("--devices must be >= 1 and --days > 0")
        try:
            report = fleet_simulate(devices=devices, days=days, seed=seed, base_url=base_url, api_key=api_key)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for error in report.errors[:10]:
            self.stderr.write(error)
        self.stdout.write(self.style.SUCCESS(report.summary()))
