"""labfield's writes: delegate-fallback drift as compat evidence, and as alerts (through telemetry's alert source)."""

from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from compat.models import CompatEvidence, EvidenceSource
from compat.services import EvidenceInput, compat_evidence_record, compat_evidence_withdraw
from telemetry.alerts.sources import AlertFinding, SourceVerdict
from telemetry.models import AlertRule

from .drift import DRIFT_DAYS, CellDrift, Rule, drift_list
from .field import CELL, days_window

DRIFT_SOURCE_REF = "field:drift"
ACTOR = "labfield.drift"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def drift_reason(drift: CellDrift) -> str:
    """The cell's reason: what fell back, how far below the lab, since when, where (no trailing full stop)."""
    worst = drift.worst
    ops = ", ".join(op.name for op in drift.ops) or "no fallback ops reported"
    where = [
        f"{label} {', '.join(versions)}"
        for label, versions in (
            ("OS", drift.versions(drift.os_versions)), ("app", drift.versions(drift.app_versions)),
            ("firmware", drift.versions(drift.firmware)),
        )
        if versions
    ]  # fmt: skip
    since = f" since {drift.since:%Y-%m-%d}" if drift.since else ""
    return (
        f"delegate-fallback drift: {ops} ran on the accelerator in the lab (run {drift.lab.run_id}) and fall back in "
        f"the field; accelerated {_pct(worst.accelerated_fraction)} vs the lab's {_pct(drift.lab.accelerated_fraction)}"
        f"{since}" + (f" on {'; '.join(where)}" if where else "")
    )


def drift_evidence_record(*, now: datetime | None = None) -> dict:
    """Records each drifting cell's drift as field evidence that degrades it; withdraws it from cells that recovered
    (or left the comparison: no lab placement or no field sessions any more)."""
    now = now or timezone.now()
    drifts = [drift for drift in drift_list(now=now) if drift.drifting]
    start, end = days_window(DRIFT_DAYS, now=now)
    items = [
        EvidenceInput(
            **dict(zip(CELL, drift.cell, strict=True)), source=EvidenceSource.FIELD, source_ref=DRIFT_SOURCE_REF,
            sample_size=drift.worst.sessions, period_start=start, period_end=min(end, now),
            degraded_reason=drift_reason(drift), link=reverse("labfield:drift") + f"?device_model={drift.labels.device_model}",
        )
        for drift in drifts
    ]  # fmt: skip
    compat_evidence_record(items=items, actor=ACTOR)
    drifting = {drift.cell for drift in drifts}
    recorded = CompatEvidence.objects.filter(source=EvidenceSource.FIELD, source_ref=DRIFT_SOURCE_REF).values_list(
        *(f"entry__{column}" for column in CELL)
    )
    cleared = {tuple(row) for row in recorded} - drifting
    compat_evidence_withdraw(cells=cleared, source=EvidenceSource.FIELD, source_ref=DRIFT_SOURCE_REF, actor=ACTOR)
    return {"drifting": len(drifting), "cleared": len(cleared)}


def drift_alert_source(rule: AlertRule, now: datetime) -> SourceVerdict:
    """Judges every compared cell for a drift rule: its threshold (points) and minimum sessions, else the settings."""
    drift_rule = Rule.from_settings(points=rule.threshold, min_sessions=rule.min_sessions)
    verdict = SourceVerdict()
    for drift in drift_list(rule=drift_rule, now=now):
        dm, mv, rv, dl = drift.cell[3], drift.cell[0], drift.cell[1], drift.cell[2]
        key = f"{dm}|{mv}|{rv}|{dl}"  # the KPI alerts' cohort key: device model|model version|runtime version|delegate
        verdict.present.add(key)
        if not drift.drifting:
            verdict.healthy.add(key)
            continue
        labels = drift.labels
        ops = ", ".join(op.name for op in drift.ops) or "accelerated fraction"
        verdict.findings.append(
            AlertFinding(
                key=key, value=drift.worst.points, threshold=drift_rule.points, sessions=drift.worst.sessions,
                label=f"{labels.device_model} · {labels.model} {labels.model_version} · {labels.runtime} "
                f"{labels.runtime_version} · {labels.delegate}: {ops} fall back"[:300],  # Alert.cohort_label
                filters={"device_model": labels.device_model, "model": labels.model,
                         "model_version": labels.model_version, "runtime": labels.runtime,
                         "runtime_version": labels.runtime_version, "delegate": labels.delegate},
            )
        )  # fmt: skip
    return verdict
