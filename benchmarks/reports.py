"""The comparison report (run a vs run b): metrics side by side, Welch significance, per-op diff, Pareto front."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from scipy import stats

from .models import BenchmarkRun, MetricDirection

LOWER, HIGHER = MetricDirection.LOWER_IS_BETTER, MetricDirection.HIGHER_IS_BETTER
SIGNIFICANCE_LEVEL = 0.05

# (label, unit, how to read it from a run, direction); None direction: informational only.
COMPARED_METRICS = (
    ("Init time", "ms", "init_ms", LOWER),
    ("First inference", "ms", "first_inference_ms", LOWER),
    ("Latency mean", "ms", "latency_mean_ms", LOWER),
    ("Latency std", "ms", "latency_std_ms", LOWER),
    ("Latency min", "ms", "latency_min_ms", LOWER),
    ("Latency p50", "ms", "latency_p50_ms", LOWER),
    ("Latency p90", "ms", "latency_p90_ms", LOWER),
    ("Latency p95", "ms", "latency_p95_ms", LOWER),
    ("Latency p99", "ms", "latency_p99_ms", LOWER),
    ("Latency max", "ms", "latency_max_ms", LOWER),
    ("Throughput", "inf/s", "throughput_per_s", HIGHER),
    ("Peak memory", "MB", "peak_memory_mb", LOWER),
    ("Model size", "MB", "model_size_display_mb", LOWER),
    ("Accuracy", "", "accuracy_value", HIGHER),
    ("Accuracy delta vs reference", "", "accuracy_delta", HIGHER),
    ("Energy per inference", "mJ", "energy_mj_per_inference", LOWER),
    ("Accelerated fraction", "", "accelerated_fraction", HIGHER),
)


@dataclass(frozen=True)
class MetricRow:
    label: str
    unit: str
    a: float | None
    b: float | None
    change_pct: float | None  # (a − b) / |b| · 100
    verdict: str  # "better" | "worse" | "same" | ""
    significance: str  # e.g. "p=0.0012 (Welch t)" or "n/a"


@dataclass(frozen=True)
class OpDiff:
    name: str
    op_type: str
    a_ms: float | None
    b_ms: float | None
    a_delegate: str
    b_delegate: str

    @property
    def diff_ms(self) -> float | None:
        return None if self.a_ms is None or self.b_ms is None else self.a_ms - self.b_ms

    @property
    def delegate_changed(self) -> bool:
        return bool(self.a_delegate and self.b_delegate and self.a_delegate != self.b_delegate)


@dataclass(frozen=True)
class Comparison:
    a: BenchmarkRun
    b: BenchmarkRun
    rows: list[MetricRow]
    op_diffs: list[OpDiff]
    welch_p_value: float | None


def welch_p_value(a: list[float] | None, b: list[float] | None) -> float | None:
    """Two-sided Welch t-test p of the two runs' latency samples; None unless both have ≥ 2 samples."""
    if not a or not b or len(a) < 2 or len(b) < 2:
        return None
    result = stats.ttest_ind(a, b, equal_var=False)
    p_value = float(result.pvalue)
    return p_value if math.isfinite(p_value) else None


def _change_pct(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return (a - b) / abs(b) * 100.0


def _verdict(change_pct: float | None, direction: str) -> str:
    if change_pct is None:
        return ""
    if abs(change_pct) < 0.5:
        return "same"
    worse = change_pct > 0 if direction == LOWER else change_pct < 0
    return "worse" if worse else "better"


def comparison_build(*, a: BenchmarkRun, b: BenchmarkRun) -> Comparison:
    """Run a (candidate) against run b (reference: the series' baseline by default)."""
    p_value = welch_p_value(a.latency_samples_ms, b.latency_samples_ms)
    rows = []
    for label, unit, attribute, direction in COMPARED_METRICS:
        value_a, value_b = getattr(a, attribute), getattr(b, attribute)
        change = _change_pct(value_a, value_b)
        significance = "n/a"
        if attribute == "latency_mean_ms" and p_value is not None:
            verdict = "significant" if p_value < SIGNIFICANCE_LEVEL else "not significant"
            significance = f"p={p_value:.3g} (Welch t, {verdict})"
        rows.append(MetricRow(label, unit, value_a, value_b, change, _verdict(change, direction), significance))
    return Comparison(a=a, b=b, rows=rows, op_diffs=op_diffs_build(a=a, b=b), welch_p_value=p_value)


def op_diffs_build(*, a: BenchmarkRun, b: BenchmarkRun, limit: int = 60) -> list[OpDiff]:
    """Per-op time of both runs matched by op name, biggest absolute change first."""
    ops_a = {op.name: op for op in a.ops.all()}
    ops_b = {op.name: op for op in b.ops.all()}
    diffs = []
    for name in dict.fromkeys([*ops_a, *ops_b]):
        op_a, op_b = ops_a.get(name), ops_b.get(name)
        diffs.append(
            OpDiff(
                name=name,
                op_type=(op_a or op_b).op_type,
                a_ms=op_a.avg_ms if op_a else None,
                b_ms=op_b.avg_ms if op_b else None,
                a_delegate=op_a.delegate if op_a else "",
                b_delegate=op_b.delegate if op_b else "",
            )
        )
    diffs.sort(key=lambda d: -abs(d.diff_ms if d.diff_ms is not None else (d.a_ms or d.b_ms or 0.0)))
    return diffs[:limit]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, accuracy) points no other point beats on both (lower latency, higher accuracy)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_accuracy = [], -math.inf
    for index in order:
        if points[index][1] > best_accuracy:
            front.append(index)
            best_accuracy = points[index][1]
    return front


def _format(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _run_title(run: BenchmarkRun) -> str:
    return (
        f"run {run.id}: {run.model_version.ml_model.slug} {run.model_version.version} ({run.model_version.precision}) "
        f"· {run.runtime_version.runtime.slug} {run.runtime_version.version}/{run.delegate.slug} "
        f"· {run.device_model.slug} · build {run.build or '-'}"
    )


def comparison_markdown(comparison: Comparison) -> str:
    """The report as Markdown (for PR comments and issues)."""
    lines = [
        f"# Benchmark comparison: run {comparison.a.id} vs run {comparison.b.id}",
        "",
        f"- A (candidate): {_run_title(comparison.a)}",
        f"- B (reference): {_run_title(comparison.b)}",
        "",
        "| metric | unit | A | B | change | verdict | significance |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in comparison.rows:
        change = "" if row.change_pct is None else f"{row.change_pct:+.1f} %"
        lines.append(
            f"| {row.label} | {row.unit} | {_format(row.a)} | {_format(row.b)} | {change} | {row.verdict} "
            f"| {row.significance} |"
        )
    if comparison.op_diffs:
        lines += [
            "",
            "## Per-op diff (ms per inference)",
            "",
            "| op | type | A | B | diff | delegate A | delegate B |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for op in comparison.op_diffs:
            lines.append(
                f"| {op.name} | {op.op_type} | {_format(op.a_ms)} | {_format(op.b_ms)} | {_format(op.diff_ms)} "
                f"| {op.a_delegate} | {op.b_delegate} |"
            )
    return "\n".join(lines) + "\n"


def comparison_csv(comparison: Comparison) -> str:
    """The metric table as CSV (one row per metric)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["metric", "unit", f"run_{comparison.a.id}", f"run_{comparison.b.id}", "change_pct", "verdict", "significance"]
    )
    for row in comparison.rows:
        writer.writerow(
            [
                row.label,
                row.unit,
                "" if row.a is None else repr(row.a),
                "" if row.b is None else repr(row.b),
                "" if row.change_pct is None else f"{row.change_pct:.4f}",
                row.verdict,
                row.significance,
            ]
        )
    return buffer.getvalue()
