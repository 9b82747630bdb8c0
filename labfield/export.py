"""The gap list as CSV rows: the same figures as the page and the API, rounded as the API rounds them."""

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
