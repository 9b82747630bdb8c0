"""The gap list as CSV rows: the same figures as the page and the API, rounded as the API rounds them."""

from .drift import CellDrift
from .selectors import CellGap

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
