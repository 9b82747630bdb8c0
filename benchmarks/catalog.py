"""What a run names in the catalog: resolve its slugs and versions, never creating catalog rows silently.

An unknown slug (model, runtime, delegate, device model) is always an error. An unknown model version or
runtime version is an error naming it and the known ones (closest first) unless the caller asked for
registration (`register_versions`), and then exactly the versions `catalog_plan` lists are created.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion
from compat.services import catalog_versions_register

_LISTED = 12  # known values named in an error, closest first


class CatalogError(ValueError):
    """Identity fields that name nothing in the catalog: field -> message (every bad field at once)."""

    def __init__(self, *, field: str | None = None, message: str | None = None, errors: dict[str, str] | None = None):
        self.errors = dict(errors or {})
        if field is not None:
            self.errors[field] = message or f"unknown {field}"
        self.field = next(iter(self.errors), "")
        super().__init__("; ".join(self.errors.values()))


@dataclass(frozen=True, kw_only=True)
class RunIdentity:
    """What ran where: catalog slugs and versions, build/commit, config and environment."""

    model: str
    model_version: str
    runtime: str
    runtime_version: str
    delegate: str
    device_model: str
    build: str = ""
    commit: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    ran_at: datetime | None = None


@dataclass(frozen=True)
class CatalogPlan:
    """The catalog rows a run resolves to, and the versions it would create (registered only on request)."""

    model: MLModel
    runtime: Runtime
    delegate: Delegate
    device_model: DeviceModel
    model_version: ModelVersion | None
    runtime_version: RuntimeVersion | None

    @property
    def to_register(self) -> list[str]:
        """Human-readable list of what registration would create, e.g. ["model version mobilenet-v3 1.1"]."""
        missing = []
        if self.model_version is None:
            missing.append("model version")
        if self.runtime_version is None:
            missing.append("runtime version")
        return missing


def known_values(value: str, known: list[str]) -> str:
    """The known values, closest to `value` first, for an error message."""
    close = difflib.get_close_matches(value, known, n=5, cutoff=0.5)
    ordered = [*close, *sorted(set(known) - set(close))]
    shown = ", ".join(ordered[:_LISTED]) + (f" and {len(ordered) - _LISTED} more" if len(ordered) > _LISTED else "")
    return shown or "none"


def catalog_plan(identity: RunIdentity) -> CatalogPlan:
    """Resolves the identity's slugs and versions; CatalogError names every unknown slug (versions may be missing)."""
    errors: dict[str, str] = {}
    model = MLModel.objects.filter(slug=identity.model).first()
    if model is None:
        known = list(MLModel.objects.values_list("slug", flat=True))
        errors["model"] = f"unknown model {identity.model!r}; known: {known_values(identity.model, known)}"
    runtime = Runtime.objects.filter(slug=identity.runtime).first()
    if runtime is None:
        known = list(Runtime.objects.values_list("slug", flat=True))
        errors["runtime"] = f"unknown runtime {identity.runtime!r}; known: {known_values(identity.runtime, known)}"
    delegate = None
    if runtime is not None:
        delegate = Delegate.objects.filter(runtime=runtime, slug=identity.delegate).first()
        if delegate is None:
            known = list(Delegate.objects.filter(runtime=runtime).values_list("slug", flat=True))
            errors["delegate"] = (
                f"unknown delegate {identity.delegate!r} of {runtime.slug}; known: {known_values(identity.delegate, known)}"
            )
    device_model = DeviceModel.objects.filter(slug=identity.device_model).first()
    if device_model is None:
        known = list(DeviceModel.objects.values_list("slug", flat=True))
        errors["device_model"] = (
            f"unknown device model {identity.device_model!r}; known: {known_values(identity.device_model, known)}"
        )
    if errors:
        raise CatalogError(errors=errors)
    return CatalogPlan(
        model=model,
        runtime=runtime,
        delegate=delegate,
        device_model=device_model,
        model_version=ModelVersion.objects.filter(ml_model=model, version=identity.model_version).first(),
        runtime_version=RuntimeVersion.objects.filter(runtime=runtime, version=identity.runtime_version).first(),
    )


def unknown_version_errors(identity: RunIdentity, plan: CatalogPlan) -> dict[str, str]:
    """field -> message for each version the catalog does not have, naming the known ones closest first."""
    errors = {}
    hint = "; set register_versions=true to register it"
    if plan.model_version is None:
        known = list(ModelVersion.objects.filter(ml_model=plan.model).values_list("version", flat=True))
        errors["model_version"] = (
            f"unknown version {identity.model_version!r} of model {plan.model.slug!r}; "
            f"known: {known_values(identity.model_version, known)}{hint}"
        )
    if plan.runtime_version is None:
        known = list(RuntimeVersion.objects.filter(runtime=plan.runtime).values_list("version", flat=True))
        errors["runtime_version"] = (
            f"unknown version {identity.runtime_version!r} of runtime {plan.runtime.slug!r}; "
            f"known: {known_values(identity.runtime_version, known)}{hint}"
        )
    return errors


def registration_list(identity: RunIdentity, plan: CatalogPlan) -> list[str]:
    """Exactly what registering this identity's versions creates, one line each."""
    rows = []
    if plan.model_version is None:
        rows.append(f"model version {plan.model.slug} {identity.model_version}")
    if plan.runtime_version is None:
        rows.append(f"runtime version {plan.runtime.slug} {identity.runtime_version}")
    return rows


def identity_resolve(*, identity: RunIdentity, register_versions: bool = False):
    """(model version, runtime version, delegate, device model) rows; registers missing versions only on request.

    Call inside the transaction that stores the run, so a failure after registration leaves nothing behind.
    """
    plan = catalog_plan(identity)
    if plan.to_register:
        if not register_versions:
            raise CatalogError(errors=unknown_version_errors(identity, plan))
        runtime_versions, model_versions = catalog_versions_register(
            runtime_versions=[(identity.runtime, identity.runtime_version)] if plan.runtime_version is None else [],
            model_versions=[(identity.model, identity.model_version)] if plan.model_version is None else [],
        )
        plan = CatalogPlan(
            model=plan.model,
            runtime=plan.runtime,
            delegate=plan.delegate,
            device_model=plan.device_model,
            model_version=plan.model_version or model_versions[(identity.model, identity.model_version)],
            runtime_version=plan.runtime_version or runtime_versions[(identity.runtime, identity.runtime_version)],
        )
    return plan.model_version, plan.runtime_version, plan.delegate, plan.device_model
