"""A release-readiness report as CSV (one row per path) and as Markdown for a release note."""

import csv
import io

from . import rules
from .selectors import PathRow, VersionReadiness

CSV_FIELDS = (
    "model", "model_version", "version_verdict", "device_model", "device_model_verdict", "runtime",
    "runtime_version", "delegate", "entry_id", "verdict", "field_sessions", "field_devices", "p95_latency_ms",
    "latency_budget_ms", "crash_free_sessions", "errors_per_1k", "accelerator_utilization", "peak_rss_mb_p95",
    "memory_budget_mb", "lab_runs", "lab_run_id", "open_lab_regressions", "open_crash_groups", "reasons",
)  # fmt: skip


def _figure(path: PathRow, kpi: str) -> float | None:
    return next((j.value for j in path.readiness.kpis if j.kpi == kpi), None)


def csv_rows(report: VersionReadiness) -> list[dict]:
    """One row per path: the verdicts, the judged figures (field, else lab) and the reasons, `; `-joined."""
    mv = report.model_version
    rows = []
    for device_row in report.device_models:
        for path in device_row.paths:
            facts, entry = path.facts, path.entry
            rows.append({
                "model": mv.ml_model.slug, "model_version": mv.version, "version_verdict": report.readiness.verdict,
                "device_model": entry.device_model.slug, "device_model_verdict": device_row.readiness.verdict,
                "runtime": entry.runtime_version.runtime.slug, "runtime_version": entry.runtime_version.version,
                "delegate": entry.delegate.slug, "entry_id": entry.pk, "verdict": path.readiness.verdict,
                "field_sessions": facts.field.sessions if facts.field else 0,
                "field_devices": facts.field.devices if facts.field else 0,
                "p95_latency_ms": _figure(path, "p95_latency_ms"), "latency_budget_ms": facts.latency_budget_ms,
                "crash_free_sessions": _figure(path, "crash_free_sessions"),
                "errors_per_1k": _figure(path, "errors_per_1k"),
                "accelerator_utilization": _figure(path, "accelerator_utilization"),
                "peak_rss_mb_p95": _figure(path, "peak_rss_mb_p95"), "memory_budget_mb": facts.memory_budget_mb,
                "lab_runs": facts.lab.runs if facts.lab else 0,
                "lab_run_id": facts.lab.run_id if facts.lab else None,
                "open_lab_regressions": sum(1 for r in facts.regressions if r.status == "open"),
                "open_crash_groups": len(facts.crash_groups),
                "reasons": "; ".join(reason.text for reason in path.readiness.reasons),
            })  # fmt: skip
    return rows


def as_csv(report: VersionReadiness) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(report))
    return out.getvalue()


def _cell(text: str) -> str:
    # A table cell holds one line, and a pipe would end the cell.
    return " ".join(str(text).split()).replace("|", "\\|")


def as_markdown(report: VersionReadiness, *, base_url: str = "") -> str:
    """A release note section: the version's verdict and reasons, then one table row per path."""
    mv = report.model_version
    lines = [
        f"## {mv.ml_model.name} {mv.version}: {report.readiness.glyph} {report.readiness.label}",
        "",
        f"Field evidence {report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC; lab runs of the last "
        f"{report.lab_window_days} days.",
        "",
    ]
    for reason in report.readiness.reasons:
        lines.append(f"- {reason.text}")
    if report.readiness.reasons:
        lines.append("")
    lines += [
        "| Device model | Path | Verdict | Sessions | Devices | Reasons |",
        "|---|---|---|---:|---:|---|",
    ]
    for device_row in report.device_models:
        for path in device_row.paths:
            field = path.facts.field
            reasons = "; ".join(
                f"[{_cell(r.text)}]({base_url}{r.link})" if r.link else _cell(r.text) for r in path.readiness.reasons
            )
            lines.append(
                f"| {_cell(device_row.device_model)} | {_cell(path.path_label)} | "
                f"{path.readiness.glyph} {path.readiness.label} | {field.sessions if field else 0} | "
                f"{field.devices if field else 0} | {reasons or '–'} |"
            )
    if not report.device_models:
        lines.append(f"| – | – | {rules.VERDICT_LABELS[rules.NO_EVIDENCE]} | 0 | 0 | no compat cell yet |")
    return "\n".join(lines) + "\n"
