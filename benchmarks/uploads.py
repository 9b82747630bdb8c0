"""The upload page's write: one artifact file -> one run, with every problem reported instead of raised.

Registration on the page is confirmed: the page shows exactly the versions a file would create; the run is
stored only when the uploader ticked the box for that same list (`confirmed`), so nothing is created that the
person did not see.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from benchmarks.catalog import CatalogError, RunIdentity, catalog_plan, registration_list, unknown_version_errors
from benchmarks.importers.base import AUTO, ArtifactError, FormatNotRecognised
from benchmarks.importers.dispatch import parse_artifact
from benchmarks.models import BenchmarkRun
from benchmarks.services import artifact_size_check, benchmark_run_create


@dataclass
class UploadOutcome:
    """What happened to one uploaded file: the stored run, or every error; what registration would create."""

    filename: str
    run: BenchmarkRun | None = None
    source_format: str = ""
    detected: bool = False
    tool_version: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # field ("artifact", "format", "model_version", ...) -> why
    to_register: list[str] = field(default_factory=list)
    tried: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "filename": self.filename,
            "ok": self.run is not None,
            "run": self.run.id if self.run else None,
            "status": self.run.status if self.run else None,
            "url": f"/benchmarks/runs/{self.run.id}/" if self.run else None,
            "source_format": self.source_format,
            "detected": self.detected,
            "tool_version": self.tool_version,
            "errors": self.errors,
            "to_register": self.to_register,
            "tried": self.tried,
        }


def benchmark_run_upload(
    *,
    identity: RunIdentity,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    source_format: str = AUTO,
    register_versions: bool = False,
    confirmed: list[str] | None = None,
) -> UploadOutcome:
    """Parses and stores one uploaded file as a run; never raises for a bad file or identity (see UploadOutcome)."""
    outcome = UploadOutcome(filename=filename, detected=source_format == AUTO)
    try:
        artifact_size_check(size=len(data))
        result = parse_artifact(source_format=source_format, data=data)
    except FormatNotRecognised as exc:
        outcome.errors["format"], outcome.tried = str(exc), exc.tried
        return outcome
    except ArtifactError as exc:
        outcome.errors["artifact"] = f"Malformed artifact: {exc}"
        return outcome
    outcome.source_format, outcome.tool_version = result.source_format, result.runtime_version or ""
    if not identity.runtime_version and result.runtime_version:
        identity = replace(identity, runtime_version=result.runtime_version)
    if not identity.runtime_version:
        outcome.errors["runtime_version"] = "runtime version is required: this artifact does not print one"
        return outcome
    try:
        plan = catalog_plan(identity)
    except CatalogError as exc:
        outcome.errors.update(exc.errors)
        return outcome
    outcome.to_register = registration_list(identity, plan)
    if outcome.to_register:
        if not register_versions:
            outcome.errors.update(unknown_version_errors(identity, plan))
            return outcome
        if confirmed is not None and sorted(confirmed) != sorted(outcome.to_register):
            outcome.errors["register_versions"] = (
                "the versions to register are not the ones you confirmed; check the list and confirm again"
            )
            return outcome
    try:
        outcome.run = benchmark_run_create(
            identity=identity,
            result=result,
            artifact_name=filename,
            artifact_data=data,
            artifact_content_type=content_type or "application/octet-stream",
            register_versions=bool(outcome.to_register),
            source_format_detected=outcome.detected,
        )
    except CatalogError as exc:  # a concurrent change of the catalog since the plan
        outcome.errors.update(exc.errors)
    return outcome
