from django.core.management.base import BaseCommand

from rollouts.simulation import rollouts_simulate


class Command(BaseCommand):
    help = (
        "Runs two rollouts end to end through the assignment and ingest APIs: a good candidate that completes, and "
        "one 15 % slower at p95 and crashier on one device model, which the guardrails roll back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--devices", type=int, default=80)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--base-url", help="A running server on this database (default: a local one in a thread)")

    def handle(self, *args, devices, seed, base_url, **options):
        results = rollouts_simulate(base_url=base_url, seed=seed, devices=devices, progress=self.stdout.write)
        for result in results:
            self.stdout.write(self.style.SUCCESS(result.summary()))
            for decision in result.decisions:
                self.stdout.write(f"    {decision}")
