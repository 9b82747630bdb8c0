"""Plotly figures for the benchmark pages, built with the one chart helper (core.charts)."""

from __future__ import annotations

import statistics

from core.charts import PALETTE, Chart, base_layout, chart, line_trace

from .models import METRIC_LABELS, BenchmarkOp, BenchmarkRun
from .reports import pareto_front
from .selectors import SeriesTrend

TOP_OPS = 25


def latency_distribution_chart(*, run: BenchmarkRun) -> Chart:
    """A histogram of the per-inference samples, else the summary's percentiles as bars."""
    samples = run.latency_samples_ms or []
    if samples:
        traces = [{"type": "histogram", "x": samples, "name": "inferences", "marker": {"color": PALETTE[0]}}]
        layout = base_layout(x_title="latency (ms)", y_title="inferences", hovermode="closest")
    else:
        labels = ["min", "p50", "mean", "p90", "p95", "p99", "max"]
        values = [
            run.latency_min_ms,
            run.latency_p50_ms,
            run.latency_mean_ms,
            run.latency_p90_ms,
            run.latency_p95_ms,
            run.latency_p99_ms,
            run.latency_max_ms,
        ]
        known = [(label, value) for label, value in zip(labels, values, strict=True) if value is not None]
        traces = (
            [
                {
                    "type": "bar",
                    "x": [label for label, _ in known],
                    "y": [value for _, value in known],
                    "name": "latency",
                    "marker": {"color": PALETTE[0]},
                    "text": [f"{value:.3g} ms" for _, value in known],
                    "textposition": "outside",
                }
            ]
            if known
            else []
        )
        layout = base_layout(y_title="latency (ms)", hovermode="closest")
    return chart(
        chart_id=f"latency-{run.id}",
        traces=traces,
        layout=layout,
        title="Latency distribution",
        description="Per-inference latency of this run",
        empty_message="This run has no latency figures.",
    )


def ops_by_time_chart(*, ops: list[BenchmarkOp], chart_id: str) -> Chart:
    """The slowest ops as horizontal bars, one trace per delegate so CPU fallbacks stand out (colour + legend)."""
    top = sorted(ops, key=lambda op: -op.avg_ms)[:TOP_OPS][::-1]
    delegates = list(dict.fromkeys(op.delegate for op in top))
    traces = []
    for index, delegate in enumerate(delegates):
        mine = [op for op in top if op.delegate == delegate]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": f"{delegate}{'' if any(op.accelerated for op in mine) else ' (CPU)'}",
                "y": [f"{op.name[:40]} #{op.position}" for op in mine],
                "x": [op.avg_ms for op in mine],
                "marker": {
                    "color": PALETTE[index % len(PALETTE)],
                    "pattern": {"shape": "" if any(op.accelerated for op in mine) else "/"},
                },
            }
        )
    layout = base_layout(x_title="ms per inference", height=max(320, 22 * len(top) + 80), hovermode="closest")
    layout["yaxis"]["categoryorder"] = "array"
    layout["yaxis"]["categoryarray"] = [f"{op.name[:40]} #{op.position}" for op in top]
    return chart(
        chart_id=chart_id,
        traces=traces,
        layout=layout,
        title=f"Slowest {len(top)} ops by time, by delegate",
        description="Per-op time; hatched bars ran on the CPU",
        empty_message="No per-op profile in this run (upload with op profiling enabled).",
    )


def delegate_share_chart(*, ops: list[BenchmarkOp], chart_id: str) -> Chart:
    """Share of op time per delegate/provider: where the graph fell back to the CPU."""
    totals: dict[str, float] = {}
    for op in ops:
        totals[op.delegate] = totals.get(op.delegate, 0.0) + op.avg_ms
    grand_total = sum(totals.values()) or 1.0
    names = sorted(totals, key=lambda name: -totals[name])
    traces = (
        [
            {
                "type": "bar",
                "x": names,
                "y": [totals[name] / grand_total * 100 for name in names],
                "text": [f"{totals[name] / grand_total:.1%}" for name in names],
                "textposition": "outside",
                "marker": {"color": PALETTE[1]},
                "name": "share of op time",
            }
        ]
        if totals
        else []
    )
    return chart(
        chart_id=chart_id,
        traces=traces,
        layout=base_layout(y_title="% of op time", hovermode="closest"),
        title="Op time by delegate",
        description="Share of op time per delegate or execution provider",
        empty_message="No per-op profile in this run.",
    )


def tradeoff_chart(*, variants: list[BenchmarkRun], highlight_ids: set[int]) -> tuple[Chart, list[BenchmarkRun]]:
    """Latency vs accuracy (marker size = model size) of the model's variants, with the Pareto front."""
    points = [run for run in variants if run.latency_mean_ms is not None and run.accuracy_value is not None]
    front_runs = [points[i] for i in pareto_front([(r.latency_mean_ms, r.accuracy_value) for r in points])]

    def label(run: BenchmarkRun) -> str:
        return (
            f"{run.model_version.version} {run.model_version.precision} · {run.runtime_version.runtime.slug} "
            f"{run.runtime_version.version}/{run.delegate.slug} (run {run.id})"
        )

    sizes = [run.model_size_display_mb or 0.0 for run in points]
    largest = max(sizes, default=0.0) or 1.0
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": "variants",
            "x": [run.latency_mean_ms for run in points],
            "y": [run.accuracy_value for run in points],
            "text": [f"{label(run)}<br>size {size:.1f} MB" for run, size in zip(points, sizes, strict=True)],
            "hovertemplate": "%{text}<br>%{x:.2f} ms, accuracy %{y:.4f}<extra></extra>",
            "marker": {
                "size": [10 + 30 * size / largest for size in sizes],
                "color": [PALETTE[4] if run.id in highlight_ids else PALETTE[0] for run in points],
                "symbol": ["diamond" if run.id in highlight_ids else "circle" for run in points],
                "opacity": 0.75,
            },
        }
    ]
    if front_runs:
        traces.append(
            line_trace(
                name="Pareto front",
                x=[run.latency_mean_ms for run in front_runs],
                y=[run.accuracy_value for run in front_runs],
                index=2,
                mode="lines",
                hoverinfo="skip",
            )
        )
    figure = chart(
        chart_id="tradeoff",
        traces=traces if points else [],
        layout=base_layout(
            x_title="latency mean (ms, lower is better)", y_title="accuracy (higher is better)", hovermode="closest"
        ),
        title="Latency vs accuracy across the model's variants on this device (size = marker)",
        description="Trade-off scatter with the Pareto front; the compared runs are diamonds",
        empty_message="No variant of this model on this device has both latency and accuracy.",
    )
    return figure, front_runs


def trend_chart(*, trend: SeriesTrend, baseline: BenchmarkRun | None) -> Chart:
    """A series' metric over time, change points marked, and a baseline band (baseline ± 2σ of its regime)."""
    metric = trend.metric
    runs = [run for run in trend.runs if getattr(run, metric) is not None]
    values = [getattr(run, metric) for run in runs]
    x = [run.ran_at.isoformat() for run in runs]
    traces = [
        line_trace(
            name=METRIC_LABELS.get(metric, metric),
            x=x,
            y=values,
            index=0,
            text=[f"run {run.id} build {run.build}" for run in runs],
        )
    ]
    change_ids = {regression.change_run_id for regression in trend.regressions}
    marked = [run for run in runs if run.id in change_ids]
    if marked:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "change point",
                "x": [run.ran_at.isoformat() for run in marked],
                "y": [getattr(run, metric) for run in marked],
                "marker": {"symbol": "x", "size": 14, "color": PALETTE[4], "line": {"width": 2}},
            }
        )
    shapes = []
    first_change = min((i for i, run in enumerate(runs) if run.id in change_ids), default=len(runs))
    regime = values[:first_change] or values
    center = getattr(baseline, metric, None) if baseline is not None else None
    if center is None and regime:
        center = statistics.fmean(regime)
    if center is not None and len(regime) >= 2:
        spread = 2 * statistics.stdev(regime)
        shapes.append(
            {
                "type": "rect",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "yref": "y",
                "y0": center - spread,
                "y1": center + spread,
                "fillcolor": "rgba(5,150,105,0.12)",
                "line": {"width": 0},
                "layer": "below",
                "label": {"text": "baseline ±2σ", "textposition": "top left", "font": {"size": 10}},
            }
        )
    series = trend.series
    return chart(
        chart_id=f"trend-{series.id}",
        traces=traces if runs else [],
        layout=base_layout(y_title=METRIC_LABELS.get(metric, metric), shapes=shapes, height=260),
        title=f"{series.ml_model.slug} {series.precision} · {series.runtime.slug}/{series.delegate.slug} "
        f"· {series.device_model.slug}",
        description=f"Trend of {METRIC_LABELS.get(metric, metric)} with change points marked",
        height=260,
    )
