import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks.importers.base import ArtifactError
from benchmarks.services import SOURCE_FORMATS, CatalogError, RunExtras, RunIdentity, benchmark_run_import


class Command(BaseCommand):
    help = "Imports one native benchmark artifact (TFLite log, ORT profile, trtexec JSON) as a run."

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=SOURCE_FORMATS)
        parser.add_argument("--file", required=True, type=Path)
        for name in ("model", "model-version", "runtime", "delegate", "device-model"):
            parser.add_argument(f"--{name}", required=True)
        parser.add_argument("--runtime-version", default="", help="Blank: taken from the artifact when it names one")
        parser.add_argument("--build", default="")
        parser.add_argument("--commit", default="")
        parser.add_argument("--config", default="{}", help="JSON object, e.g. '{\"threads\": 4}'")
        parser.add_argument("--accuracy-metric", default="")
        parser.add_argument("--accuracy-value", type=float, default=None)

    def handle(self, *args, **options):
        try:
            data = options["file"].read_bytes()
            config = json.loads(options["config"])
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not JSON: {exc.msg}") from None
        identity = RunIdentity(
            model=options["model"],
            model_version=options["model_version"],
            runtime=options["runtime"],
            runtime_version=options["runtime_version"],
            delegate=options["delegate"],
            device_model=options["device_model"],
            build=options["build"],
            commit=options["commit"],
            config=config,
        )
        extras = RunExtras(accuracy_metric=options["accuracy_metric"], accuracy_value=options["accuracy_value"])
        try:
            run = benchmark_run_import(
                identity=identity,
                source_format=options["format"],
                data=data,
                filename=options["file"].name,
                extras=extras,
            )
        except ArtifactError as exc:
            raise CommandError(f"malformed artifact: {exc}") from None
        except CatalogError as exc:
            raise CommandError(f"--{exc.field.replace('_', '-')}: {exc}") from None
        mean = f"{run.latency_mean_ms:.3f} ms" if run.latency_mean_ms is not None else "n/a"
        self.stdout.write(
            self.style.SUCCESS(f"Imported run {run.id} ({run.status}): latency mean {mean}, {run.ops.count()} ops")
        )
