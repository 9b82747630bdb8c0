"""Every write to the catalog and the matrix. Telemetry and benchmarks call these; compat imports neither."""

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from core.slo import SloTargets, slo_targets_get

from .models import (
    CompatEntry,
    CompatEvidence,
    CompatStatus,
    CompatStatusChange,
    Delegate,
    DeviceModel,
    EvidenceSource,
    MLModel,
    ModelVersion,
    Precision,
    Runtime,
    RuntimeVersion,
)
from .status import status_derive


def _latest_model_versions(*, model_ids: set[int]) -> dict[int, ModelVersion]:
    latest: dict[int, ModelVersion] = {}
    for mv in ModelVersion.objects.filter(ml_model_id__in=model_ids).order_by("ml_model_id", "-first_seen_at"):
        latest.setdefault(mv.ml_model_id, mv)
    return latest


def _model_version_first_seen(ml_model: MLModel, version: str, latest: ModelVersion | None) -> ModelVersion:
    """A version seen first in the field: precision from its name ("1.1-int8") when it says, else the
    model's newest version's; format likewise. Otherwise an INT8 build would land in an FP32 series."""
    tokens = set(re.split(r"[-_.+]", version.lower()))
    precision = next((p for p in Precision.values if p in tokens), latest.precision if latest else Precision.FP32)
    return ModelVersion(
        ml_model=ml_model,
        version=version,
        precision=precision,
        format=latest.format if latest else ModelVersion._meta.get_field("format").default,
        accuracy_metric=latest.accuracy_metric if latest else "",
    )


@transaction.atomic
def catalog_versions_register(
    *,
    runtime_versions: Iterable[tuple[str, str]] = (),
    model_versions: Iterable[tuple[str, str]] = (),
) -> tuple[dict[tuple[str, str], RuntimeVersion], dict[tuple[str, str], ModelVersion]]:
    """Resolves (slug, version) pairs, registering unknown versions of known runtimes/models on first sight.

    Unknown slugs are left out of the result (the caller rejects those items). Set-based: a handful of
    queries whatever the number of pairs; concurrent first sightings are safe through ignore_conflicts.
    """
    runtime_pairs, model_pairs = set(runtime_versions), set(model_versions)
    runtimes = {r.slug: r for r in Runtime.objects.filter(slug__in={slug for slug, _ in runtime_pairs})}
    models = {m.slug: m for m in MLModel.objects.filter(slug__in={slug for slug, _ in model_pairs})}
    runtime_pairs = {(s, v) for s, v in runtime_pairs if s in runtimes}
    model_pairs = {(s, v) for s, v in model_pairs if s in models}
    if runtime_pairs:
        RuntimeVersion.objects.bulk_create(
            [RuntimeVersion(runtime=runtimes[s], version=v) for s, v in runtime_pairs], ignore_conflicts=True
        )
    if model_pairs:
        latest = _latest_model_versions(model_ids={models[s].pk for s, _ in model_pairs})
        ModelVersion.objects.bulk_create(
            [_model_version_first_seen(models[s], v, latest.get(models[s].pk)) for s, v in model_pairs],
            ignore_conflicts=True,
        )
    found_runtime_versions = {
        (rv.runtime.slug, rv.version): rv
        for rv in RuntimeVersion.objects.select_related("runtime").filter(
            runtime__slug__in={s for s, _ in runtime_pairs}, version__in={v for _, v in runtime_pairs}
        )
        if (rv.runtime.slug, rv.version) in runtime_pairs
    }
    found_model_versions = {
        (mv.ml_model.slug, mv.version): mv
        for mv in ModelVersion.objects.select_related("ml_model").filter(
            ml_model__slug__in={s for s, _ in model_pairs}, version__in={v for _, v in model_pairs}
        )
        if (mv.ml_model.slug, mv.version) in model_pairs
    }
    return found_runtime_versions, found_model_versions


@dataclass(frozen=True)
class EvidenceInput:
    """One evidence summary for one cell, as telemetry (after a rollup) or benchmarks (after a run) push it."""

    model_version_id: int
    runtime_version_id: int
    delegate_id: int
    device_model_id: int
    source: str  # EvidenceSource.LAB | EvidenceSource.FIELD
    source_ref: str  # idempotency key within (cell, source): e.g. "field:30d" or "lab:run:42"
    sample_size: int
    period_start: datetime | None = None
    period_end: datetime | None = None
    p95_latency_ms: float | None = None
    accelerated_fraction: float | None = None
    crash_free_sessions: float | None = None
    errors_per_1k: float | None = None
    peak_rss_mb_p95: float | None = None
    load_failed: bool = False
    failure_reason: str = ""
    degraded_reason: str = ""  # a finding that degrades the cell with this reason (compat.status)
    link: str = ""

    @property
    def cell(self) -> tuple[int, int, int, int]:
        return (self.model_version_id, self.runtime_version_id, self.delegate_id, self.device_model_id)


_EVIDENCE_FIGURES = (
    "link",
    "period_start",
    "period_end",
    "sample_size",
    "p95_latency_ms",
    "latency_budget_ms",
    "accelerated_fraction",
    "crash_free_sessions",
    "errors_per_1k",
    "peak_rss_mb_p95",
    "memory_budget_mb",
    "load_failed",
    "failure_reason",
    "degraded_reason",
    "recorded_at",
)


_HEADLINE_FIGURES = (
    "p95_latency_ms",
    "latency_budget_ms",
    "crash_free_sessions",
    "accelerated_fraction",
    "sample_size",
)


def _cell_of(entry: CompatEntry) -> tuple[int, int, int, int]:
    return (entry.model_version_id, entry.runtime_version_id, entry.delegate_id, entry.device_model_id)


def _validate_items(items: Sequence[EvidenceInput]) -> None:
    sources = set(EvidenceSource.values)
    for item in items:
        if item.source not in sources:
            raise ValidationError(f"Unknown evidence source {item.source!r}; use one of {sorted(sources)}.")
        if not item.source_ref:
            raise ValidationError("source_ref is required: it makes re-pushing the same evidence idempotent.")
        if item.sample_size < 0:
            raise ValidationError("sample_size cannot be negative.")


@transaction.atomic
def compat_evidence_record(*, items: Sequence[EvidenceInput], actor: str) -> list[CompatEntry]:
    """Upserts evidence, creating missing cells, and re-derives each touched cell's status from all its evidence.

    Idempotent on (cell, source, source_ref): re-pushing replaces the figures. A fixed number of queries whatever
    len(items) (for batches up to the database's parameter limits). A status change writes a history row.
    """
    _validate_items(items)
    latest: dict[tuple, EvidenceInput] = {}
    for item in items:  # one batch may repeat a key: the last one wins, as a second push would
        latest[(item.cell, item.source, item.source_ref)] = item
    if not latest:
        return []
    cells = {item.cell for item in latest.values()}
    device_models = DeviceModel.objects.in_bulk({cell[3] for cell in cells})
    delegates = Delegate.objects.in_bulk({cell[2] for cell in cells})
    missing = [cell for cell in cells if cell[3] not in device_models or cell[2] not in delegates]
    if missing:
        raise ValidationError(f"Unknown device model or delegate in evidence for cells {sorted(missing)[:5]}.")
    targets = slo_targets_get()

    CompatEntry.objects.bulk_create(
        [
            CompatEntry(model_version_id=mv, runtime_version_id=rv, delegate_id=dl, device_model_id=dm)
            for mv, rv, dl, dm in cells
        ],
        ignore_conflicts=True,
    )
    # Lock the touched cells so two concurrent pushes re-derive one after the other, never from stale evidence.
    candidates = CompatEntry.objects.select_for_update().filter(
        model_version_id__in={c[0] for c in cells},
        runtime_version_id__in={c[1] for c in cells},
        delegate_id__in={c[2] for c in cells},
        device_model_id__in={c[3] for c in cells},
    )
    entries = {_cell_of(entry): entry for entry in candidates.order_by("id") if _cell_of(entry) in cells}

    now = timezone.now()
    rows = []
    for (cell, source, source_ref), item in latest.items():
        device_model = device_models[cell[3]]
        rows.append(
            CompatEvidence(
                entry=entries[cell],
                source=source,
                source_ref=source_ref,
                link=item.link,
                period_start=item.period_start,
                period_end=item.period_end,
                sample_size=item.sample_size,
                p95_latency_ms=item.p95_latency_ms,
                latency_budget_ms=targets.p95_latency_ms(device_model.tier),
                accelerated_fraction=item.accelerated_fraction,
                crash_free_sessions=item.crash_free_sessions,
                errors_per_1k=item.errors_per_1k,
                peak_rss_mb_p95=item.peak_rss_mb_p95,
                memory_budget_mb=device_model.memory_budget_mb,
                load_failed=item.load_failed,
                failure_reason=item.failure_reason,
                degraded_reason=item.degraded_reason,
                recorded_at=now,
            )
        )
    CompatEvidence.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["entry", "source", "source_ref"],
        update_fields=list(_EVIDENCE_FIGURES),
    )

    _entries_rederive(
        entries=entries, device_models=device_models, delegates=delegates, targets=targets, actor=actor, now=now
    )
    return list(entries.values())


def _entries_rederive(
    *, entries: dict, device_models: dict, delegates: dict, targets: SloTargets, actor: str, now: datetime
) -> None:
    """Re-derives each (locked) entry's status from all its evidence; a change writes a history row."""
    evidence_by_entry: dict[int, list[CompatEvidence]] = defaultdict(list)
    for evidence in CompatEvidence.objects.filter(entry__in=[entry.id for entry in entries.values()]):
        evidence_by_entry[evidence.entry_id].append(evidence)

    changes = []
    for cell, entry in entries.items():
        verdict = status_derive(
            evidence=evidence_by_entry[entry.id],
            targets=targets,
            tier=device_models[cell[3]].tier,
            delegate_kind=delegates[cell[2]].kind,
            memory_budget_mb=device_models[cell[3]].memory_budget_mb,
        )
        if verdict.status != entry.derived_status:
            changes.append(
                CompatStatusChange(
                    entry=entry,
                    kind=CompatStatusChange.Kind.DERIVED,
                    from_status=entry.derived_status,
                    to_status=verdict.status,
                    actor=actor,
                    reason=verdict.reason,
                    changed_at=now,
                )
            )
        entry.derived_status, entry.derived_reason = verdict.status, verdict.reason
        for name in _HEADLINE_FIGURES:
            setattr(entry, name, verdict.figures.get(name, getattr(entry, name)))
        entry.evidence_updated_at = entry.updated_at = now
    CompatEntry.objects.bulk_update(
        list(entries.values()),
        ["derived_status", "derived_reason", "evidence_updated_at", "updated_at", *_HEADLINE_FIGURES],
    )
    CompatStatusChange.objects.bulk_create(changes)


@transaction.atomic
def compat_evidence_withdraw(
    *, cells: Iterable[tuple[int, int, int, int]], source: str, source_ref: str, actor: str
) -> list[CompatEntry]:
    """Deletes the (source, source_ref) evidence of these cells (a finding that cleared) and re-derives them.

    Cells are (model version, runtime version, delegate, device model) ids; a cell without that item is untouched.
    """
    cells = set(cells)
    items = CompatEvidence.objects.filter(source=source, source_ref=source_ref).select_related("entry")
    entry_ids = [item.entry_id for item in items if _cell_of(item.entry) in cells]
    if not entry_ids:
        return []
    entries = {_cell_of(entry): entry for entry in CompatEntry.objects.select_for_update().filter(id__in=entry_ids)}
    CompatEvidence.objects.filter(entry_id__in=entry_ids, source=source, source_ref=source_ref).delete()
    device_models = DeviceModel.objects.in_bulk({cell[3] for cell in entries})
    delegates = Delegate.objects.in_bulk({cell[2] for cell in entries})
    _entries_rederive(
        entries=entries, device_models=device_models, delegates=delegates, targets=slo_targets_get(), actor=actor,
        now=timezone.now(),
    )  # fmt: skip
    return list(entries.values())


def _require(user, permission: str) -> None:
    if not user.has_perm(permission):
        raise PermissionDenied(f"Your role does not allow this (needs {permission}).")


@transaction.atomic
def compat_entry_override(*, entry: CompatEntry, status: str, reason: str, user) -> CompatEntry:
    """Sets a manual status next to the derived one; the reason is required and goes into the history."""
    _require(user, "compat.override_compatentry")
    reason = (reason or "").strip()
    if status not in CompatStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}; use one of {CompatStatus.values}."})
    if not reason:
        raise ValidationError({"reason": "An override needs a reason (what you know that the evidence does not)."})
    entry = CompatEntry.objects.select_for_update().get(pk=entry.pk)
    previous = entry.status
    entry.override_status, entry.override_reason = status, reason
    entry.override_by, entry.override_at = user, timezone.now()
    entry.save(update_fields=["override_status", "override_reason", "override_by", "override_at", "updated_at"])
    CompatStatusChange.objects.create(
        entry=entry,
        kind=CompatStatusChange.Kind.OVERRIDE,
        from_status=previous,
        to_status=status,
        changed_by=user,
        actor=user.get_username(),
        reason=reason,
        changed_at=entry.override_at,
    )
    return entry


@transaction.atomic
def compat_entry_override_clear(*, entry: CompatEntry, user, reason: str = "") -> CompatEntry:
    """Removes the manual override; the cell shows its derived status again. A no-op when none is set."""
    _require(user, "compat.override_compatentry")
    entry = CompatEntry.objects.select_for_update().get(pk=entry.pk)
    if not entry.override_status:
        return entry
    previous = entry.override_status
    entry.override_status, entry.override_reason, entry.override_by, entry.override_at = "", "", None, None
    entry.save(update_fields=["override_status", "override_reason", "override_by", "override_at", "updated_at"])
    CompatStatusChange.objects.create(
        entry=entry,
        kind=CompatStatusChange.Kind.OVERRIDE_CLEARED,
        from_status=previous,
        to_status=entry.derived_status,
        changed_by=user,
        actor=user.get_username(),
        reason=(reason or "").strip() or "Override cleared; the derived status applies again.",
    )
    return entry


def compat_entry_notes_update(*, entry: CompatEntry, known_issues: str, user) -> CompatEntry:
    """Replaces a cell's known-issues text (support/admin)."""
    _require(user, "compat.edit_compat_notes")
    entry.known_issues = known_issues.strip()
    entry.save(update_fields=["known_issues", "updated_at"])
    return entry
