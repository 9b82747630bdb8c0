import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from benchmarks.importers.base import AUTO, ArtifactError
from benchmarks.services import SOURCE_FORMATS, CatalogError, RunExtras, RunIdentity, benchmark_run_import


class Command(BaseCommand):
    help = (
        "Imports one native benchmark artifact (TFLite/LiteRT log, ORT profile or perf_test output, trtexec log or"
        " JSON, OpenVINO benchmark_app report, ExecuTorch runner log) as a run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--format", default=AUTO, choices=[AUTO, *SOURCE_FORMATS], help="Default auto: recognised from the content"
        )
        parser.add_argument(
            "--register-versions",
            action="store_true",
            help="Register an unknown model version / runtime version instead of refusing the run",
        )
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
                register_versions=options["register_versions"],
            )
        except ArtifactError as exc:
            raise CommandError(f"malformed artifact: {exc}") from None
        except CatalogError as exc:
            raise CommandError(
                "; ".join(f"--{field.replace('_', '-')}: {message}" for field, message in exc.errors.items())
            ) from None
        mean = f"{run.latency_mean_ms:.3f} ms" if run.latency_mean_ms is not None else "n/a"
        detected = " (detected)" if run.source_format_detected else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported run {run.id} ({run.status}) as {run.source_format}{detected}: latency mean {mean},"
                f" {run.ops.count()} ops"
            )
        )
