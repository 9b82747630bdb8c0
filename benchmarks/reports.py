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
SAME_WITHIN_PCT = 0.5  # a significant change smaller than this is still "same"

# How a change is stated: relative (% of B) for times, rates and sizes; absolute for accuracy, in the metric's own
# points (a percentage of a percentage means nothing); absolute in percentage points for 0–1 shares.
RELATIVE, POINTS, SHARE = "relative", "points", "share"
# Which test can back a verdict from the two runs' per-inference samples; None: one value per run, no test.
WELCH, SPREAD, MEDIAN = "welch", "spread", "median"

# (label, unit, attribute, direction, how the change is stated, the test behind a verdict)
COMPARED_METRICS = (
    ("Init time", "ms", "init_ms", LOWER, RELATIVE, None),
    ("First inference", "ms", "first_inference_ms", LOWER, RELATIVE, None),
    ("Latency mean", "ms", "latency_mean_ms", LOWER, RELATIVE, WELCH),
    ("Latency std", "ms", "latency_std_ms", LOWER, RELATIVE, SPREAD),
    ("Latency min", "ms", "latency_min_ms", LOWER, RELATIVE, None),
    ("Latency p50", "ms", "latency_p50_ms", LOWER, RELATIVE, MEDIAN),
    ("Latency p90", "ms", "latency_p90_ms", LOWER, RELATIVE, None),
    ("Latency p95", "ms", "latency_p95_ms", LOWER, RELATIVE, None),
    ("Latency p99", "ms", "latency_p99_ms", LOWER, RELATIVE, None),
    ("Latency max", "ms", "latency_max_ms", LOWER, RELATIVE, None),
    # beside latency (issue 19, item 5): what the speed costs; none of our importers' tools prints it, JSON runs do
    ("Energy per inference", "mJ", "energy_mj_per_inference", LOWER, RELATIVE, None),
    ("Throughput", "inf/s", "throughput_per_s", HIGHER, RELATIVE, None),
    ("Peak memory", "MB", "peak_memory_mb", LOWER, RELATIVE, None),
    ("Model size", "MB", "model_size_display_mb", LOWER, RELATIVE, None),
    ("Accuracy", "", "accuracy_value", HIGHER, POINTS, None),
    ("Accuracy delta vs reference", "", "accuracy_delta", HIGHER, POINTS, None),
    ("Accelerated fraction", "", "accelerated_fraction", HIGHER, SHARE, None),
)
TEST_NAMES = {WELCH: "Welch t", SPREAD: "Brown–Forsythe", MEDIAN: "Mood median"}
# How a page shows a figure a run does not have: energy is "not reported" (the tool did not measure it), never 0.
MISSING_TEXT = {"energy_mj_per_inference": "not reported"}


@dataclass(frozen=True)
class MetricRow:
    label: str
    unit: str
    a: float | None
    b: float | None
    change_pct: float | None  # (a − b) / |b| · 100, for relative metrics only
    change_abs: float | None  # a − b, in the metric's unit (× 100 for shares: percentage points)
    change_text: str  # "+12.3 %", "−0.40 points", "+1.5 pp"
    verdict: str  # "better" | "worse" | "same" (a test found no change) | "" (no test: a change is only stated)
    significance: str  # e.g. "p=0.0012 (Welch t, significant)" or "one value per run: no test"
    missing: str = ""  # shown for a run without the figure (MISSING_TEXT; pages print "—" when empty)


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
    return _p_value(WELCH, a, b)


def _p_value(test: str, a: list[float] | None, b: list[float] | None) -> float | None:
    """Two-sided p of `test` on the two runs' samples; None unless both have ≥ 2 samples (or the test is undefined)."""
    if not a or not b or len(a) < 2 or len(b) < 2:
        return None
    if test == WELCH:
        p_value = stats.ttest_ind(a, b, equal_var=False).pvalue
    elif test == SPREAD:  # Levene's test around the median: robust to the skew of latency samples
        p_value = stats.levene(a, b, center="median").pvalue
    else:
        try:
            p_value = stats.median_test(a, b).pvalue
        except ValueError:  # every sample on one side of the grand median
            return None
    p_value = float(p_value)
    return p_value if math.isfinite(p_value) else None


def _change(a: float | None, b: float | None, kind: str) -> tuple[float | None, float | None, str]:
    """(change %, absolute change, text) of A against B."""
    if a is None or b is None:
        return None, None, "—"
    if kind == SHARE:
        return None, (a - b) * 100, f"{(a - b) * 100:+.1f} pp"
    if kind == POINTS:
        return None, a - b, f"{a - b:+.3g} points"
    if b == 0:
        return None, a - b, f"{a - b:+.4g}"
    pct = (a - b) / abs(b) * 100.0
    return pct, a - b, f"{pct:+.1f} %"


def _verdict(*, a: float | None, b: float | None, direction: str, test: str | None, p_value: float | None) -> str:
    if a is None or b is None or test is None or p_value is None:
        return ""
    if p_value >= SIGNIFICANCE_LEVEL or (b and abs(a - b) / abs(b) * 100 < SAME_WITHIN_PCT) or a == b:
        return "same"
    worse = a > b if direction == LOWER else a < b
    return "worse" if worse else "better"


def comparison_build(*, a: BenchmarkRun, b: BenchmarkRun) -> Comparison:
    """Run a (candidate) against run b (reference: the series' baseline by default).

    Better or worse is only said where a test on the two runs' samples backs it; elsewhere the change is stated.
    """
    rows, p_values = _metric_rows(a=a, b=b)
    return Comparison(a=a, b=b, rows=rows, op_diffs=op_diffs_build(a=a, b=b), welch_p_value=p_values[WELCH])


def _metric_rows(*, a: BenchmarkRun, b: BenchmarkRun) -> tuple[list[MetricRow], dict[str, float | None]]:
    p_values = {test: _p_value(test, a.latency_samples_ms, b.latency_samples_ms) for test in TEST_NAMES}
    rows = []
    for label, unit, attribute, direction, kind, test in COMPARED_METRICS:
        value_a, value_b = getattr(a, attribute), getattr(b, attribute)
        pct, absolute, text = _change(value_a, value_b, kind)
        p_value = p_values.get(test)
        if test is None:
            significance = "one value per run: no test"
        elif p_value is None:
            significance = "no samples to test"
        else:
            verdict = "significant" if p_value < SIGNIFICANCE_LEVEL else "not significant"
            significance = f"p={p_value:.3g} ({TEST_NAMES[test]}, {verdict})"
        verdict = _verdict(a=value_a, b=value_b, direction=direction, test=test, p_value=p_value)
        missing = MISSING_TEXT.get(attribute, "")
        rows.append(MetricRow(label, unit, value_a, value_b, pct, absolute, text, verdict, significance, missing))
    return rows, p_values


@dataclass(frozen=True)
class BaselineMetric:
    """One metric of the N-vs-baseline table: the baseline's value, then each run's row against it (run order)."""

    label: str
    unit: str
    baseline: float | None
    cells: list[MetricRow]
    missing: str = ""


@dataclass(frozen=True)
class BaselineComparison:
    baseline: BenchmarkRun
    runs: list[BenchmarkRun]
    metrics: list[BaselineMetric]


def baseline_comparison_build(*, runs: list[BenchmarkRun], baseline: BenchmarkRun) -> BaselineComparison:
    """Each run against the series' baseline, with the same changes, tests and verdicts as the a-vs-b report."""
    per_run = [_metric_rows(a=run, b=baseline)[0] for run in runs]
    metrics = [
        BaselineMetric(
            label=label,
            unit=unit,
            baseline=getattr(baseline, attribute),
            cells=[rows[i] for rows in per_run],
            missing=MISSING_TEXT.get(attribute, ""),
        )
        for i, (label, unit, attribute, *_) in enumerate(COMPARED_METRICS)
    ]
    return BaselineComparison(baseline=baseline, runs=runs, metrics=metrics)


def baseline_comparison_csv(comparison: BaselineComparison) -> str:
    """The N-vs-baseline table as CSV: one row per metric and run."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["metric", "unit", "baseline_run", "baseline", "run", "value", "change", "verdict", "significance"])
    for metric in comparison.metrics:
        for run, cell in zip(comparison.runs, metric.cells, strict=True):
            writer.writerow(
                [
                    metric.label,
                    metric.unit,
                    comparison.baseline.id,
                    "" if metric.baseline is None else repr(metric.baseline),
                    run.id,
                    "" if cell.a is None else repr(cell.a),
                    "" if cell.change_abs is None else cell.change_text,
                    cell.verdict,
                    cell.significance,
                ]
            )
    return buffer.getvalue()


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
        change = "" if row.change_abs is None else row.change_text
        lines.append(
            f"| {row.label} | {row.unit} | {_format(row.a) or row.missing} | {_format(row.b) or row.missing} | {change} "
            f"| {row.verdict} "
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
        [
            "metric",
            "unit",
            f"run_{comparison.a.id}",
            f"run_{comparison.b.id}",
            "change_pct",
            "change_abs",
            "verdict",
            "significance",
        ]  # fmt: skip
    )
    for row in comparison.rows:
        writer.writerow(
            [
                row.label,
                row.unit,
                "" if row.a is None else repr(row.a),
                "" if row.b is None else repr(row.b),
                "" if row.change_pct is None else f"{row.change_pct:.4f}",
                "" if row.change_abs is None else repr(row.change_abs),
                row.verdict,
                row.significance,
            ]
        )
    return buffer.getvalue()
