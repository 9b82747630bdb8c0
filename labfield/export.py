"""The gap list and the thermal attribution list as CSV rows: the page's and the API's figures, rounded as the API."""

from .drift import CellDrift
from .selectors import CellGap
from .thermal import ThermalRow

CSV_HEADER = (
    "cell_id", "model", "model_version", "runtime", "runtime_version", "delegate", "device_model", "lab_runs",
    "lab_p50_ms", "lab_p95_ms", "field_7d_sessions", "field_7d_devices", "field_7d_p50_ms", "field_7d_p95_ms",
    "ratio_7d_p50", "ratio_7d_p95", "field_30d_sessions", "field_30d_devices", "field_30d_p50_ms",
    "field_30d_p95_ms", "ratio_30d_p50", "ratio_30d_p95", "flagged",
)  # fmt: skip


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def csv_row(gap: CellGap) -> list:
    labels, lab = gap.labels, gap.lab
    row = [
        gap.entry_id or "", labels.model, labels.model_version, labels.runtime, labels.runtime_version,
        labels.delegate, labels.device_model, lab.runs, rounded(lab.p50_ms, 3), rounded(lab.p95_ms, 3),
    ]  # fmt: skip
    for figure, ratio in ((gap.field_7d, gap.ratio_7d), (gap.field_30d, gap.ratio_30d)):
        row += [figure.sessions, figure.devices, rounded(figure.p50_ms, 3), rounded(figure.p95_ms, 3)]
        row += [rounded(ratio.p50, 3), rounded(ratio.p95, 3)]
    return [("" if value is None else value) for value in [*row, "yes" if gap.flagged else "no"]]


# Rounding of the drift figures: page, API and CSV show these digits.
FRACTION_DIGITS, POINTS_DIGITS = 4, 2
DRIFT_FIELDS = (
    "cell_id", "model", "model_version", "runtime", "runtime_version", "delegate", "device_model", "lab_run_id",
    "lab_accelerated_fraction", "field_sessions", "field_accelerated_fraction", "drop_points", "worst_drop_points",
    "drifting", "since", "fallback_ops", "devices_affected", "os_versions", "app_versions", "firmware",
)  # fmt: skip


def drift_row(drift: CellDrift) -> dict:
    """One drift list row for the CSV export (lists joined with "; ", each op with its share of field sessions)."""
    labels = drift.labels
    return {
        "cell_id": drift.entry_id, "model": labels.model, "model_version": labels.model_version,
        "runtime": labels.runtime, "runtime_version": labels.runtime_version, "delegate": labels.delegate,
        "device_model": labels.device_model, "lab_run_id": drift.lab.run_id,
        "lab_accelerated_fraction": rounded(drift.lab.accelerated_fraction, FRACTION_DIGITS),
        "field_sessions": drift.field.sessions,
        "field_accelerated_fraction": rounded(drift.field.accelerated_fraction, FRACTION_DIGITS),
        "drop_points": rounded(drift.field.points, POINTS_DIGITS),
        "worst_drop_points": rounded(drift.worst_points, POINTS_DIGITS),
        "drifting": "yes" if drift.drifting else "no", "since": drift.since.isoformat() if drift.since else None,
        "fallback_ops": "; ".join(f"{op.name} ({rounded(op.share, FRACTION_DIGITS)})" for op in drift.ops),
        "devices_affected": drift.devices_affected, "os_versions": "; ".join(drift.versions(drift.os_versions)),
        "app_versions": "; ".join(drift.versions(drift.app_versions)),
        "firmware": "; ".join(drift.versions(drift.firmware)),
    }  # fmt: skip


THERMAL_CSV_HEADER = (
    "device_model", "thermal_state", "throttled", "sessions", "devices", "inferences", "p50_ms", "p95_ms",
    "energy_mj_per_inference", "energy_sessions",
)  # fmt: skip


def thermal_csv_row(row: ThermalRow) -> list:
    """Energy "" when no session reported it (not reported, never 0); the API's rounding."""
    values = [
        row.device_model, row.state, "yes" if row.throttled else "no", row.sessions, row.devices, row.inferences,
        rounded(row.p50_ms, 3), rounded(row.p95_ms, 3), rounded(row.energy_mj_per_inference, 3), row.energy.sessions,
    ]  # fmt: skip
    return ["" if value is None else value for value in values]
