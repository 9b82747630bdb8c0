"""Fleet figure builders, all through core.charts: plain sequences in, a Chart out (no queries here)."""

from collections.abc import Sequence
from datetime import datetime

from core.charts import PALETTE, Chart, base_layout, chart, line_trace, marker_line, target_line


def _pct(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else round(v * 100, 3) for v in values]


def latency_chart(
    *, x: Sequence[datetime], p50: Sequence, p95: Sequence, p99: Sequence, budget_ms: float | None
) -> Chart:
    """p50/p95/p99 over time, with the tier's p95 budget as a dashed line."""
    traces = [
        line_trace(name="p50", x=x, y=p50, index=0, unit="ms"),
        line_trace(name="p95", x=x, y=p95, index=1, unit="ms"),
        line_trace(name="p99", x=x, y=p99, index=2, unit="ms"),
    ]
    shapes = [target_line(value=budget_ms, name=f"p95 budget {budget_ms:g} ms")] if budget_ms else []
    return chart(
        chart_id="chart-latency",
        traces=traces if x else [],
        layout=base_layout(y_title="ms", shapes=shapes),
        title="Latency percentiles",
        description=f"p50, p95 and p99 inference latency over time; p95 budget {budget_ms or 'none'} ms.",
    )


def crash_free_chart(*, x: Sequence[datetime], crash_free: Sequence, target: float) -> Chart:
    return chart(
        chart_id="chart-crash-free",
        traces=[line_trace(name="crash-free sessions", x=x, y=_pct(crash_free), index=0, unit="%")] if x else [],
        layout=base_layout(y_title="%", shapes=[target_line(value=target * 100, name=f"target ≥ {target:.1%}")]),
        title="Crash-free sessions",
        description=f"Share of sessions without a crash over time; target at least {target:.1%}.",
    )


def errors_chart(*, x: Sequence[datetime], errors_per_1k: Sequence, target: float) -> Chart:
    return chart(
        chart_id="chart-errors",
        traces=[line_trace(name="errors", x=x, y=errors_per_1k, index=4, unit="per 1k inferences")] if x else [],
        layout=base_layout(y_title="per 1k", shapes=[target_line(value=target, name=f"target < {target:g}")]),
        title="Inference errors per 1,000",
        description=f"Inference errors per thousand inferences over time; target below {target:g}.",
    )


def accelerator_chart(*, x: Sequence[datetime], utilization: Sequence, target: float) -> Chart:
    return chart(
        chart_id="chart-accelerator",
        traces=[line_trace(name="accelerated", x=x, y=_pct(utilization), index=2, unit="%")] if x else [],
        layout=base_layout(y_title="%", shapes=[target_line(value=target * 100, name=f"target ≥ {target:.0%}")]),
        title="Accelerator utilization",
        description=f"Inference-weighted share of work on the accelerator; target at least {target:.0%}.",
    )


def fallback_ops_chart(*, ops: Sequence[tuple[str, int, float | None]], sample: bool = False) -> Chart:
    """Top ops that fell back to CPU, by sessions listing them, with their share (horizontal bars, biggest on top)."""
    ops = list(ops)[::-1]
    of = "sampled sessions" if sample else "sessions in scope"
    trace = {
        "type": "bar",
        "orientation": "h",
        "name": "sessions",
        "x": [count for _, count, _ in ops],
        "y": [name for name, _, _ in ops],
        "customdata": [None if share is None else round(share * 100, 3) for _, _, share in ops],
        "marker": {"color": PALETTE[1]},
        "hovertemplate": f"%{{y}}: %{{x:,}} sessions (%{{customdata}} % of {of})<extra></extra>",
    }
    return chart(
        chart_id="chart-fallback-ops",
        traces=[trace] if ops else [],
        layout=base_layout(x_title="sessions listing the op", hovermode="closest"),
        title="Top CPU fallback ops",
        description=f"Operators that fell back to the CPU, by sessions listing them and their share of {of}.",
        empty_message="No CPU fallback reported in this range.",
    )


def memory_chart(*, bins: Sequence[tuple[float, int]], budget_mb: float | None, p95_mb: float | None) -> Chart:
    """Peak-RSS distribution (session counts per MB bucket), the device budget and the p95 as vertical lines."""
    trace = {
        "type": "bar",
        "name": "sessions",
        "x": [round(mb, 1) for mb, _ in bins],
        "y": [count for _, count in bins],
        "marker": {"color": PALETTE[0]},
        "hovertemplate": "%{x} MB: %{y:,} sessions<extra></extra>",
    }
    shapes = [
        # The budget's label to the right of its line, the p95's to the left: close lines keep readable labels.
        marker_line(value=value, name=f"{name} {value:.0f} MB", color=color, dash=dash, side=side)
        for value, name, color, dash, side in (
            (budget_mb, "budget", "#dc2626", "dash", "right"),
            (p95_mb, "p95", "#111827", "dot", "left"),
        )
        if value
    ]
    return chart(
        chart_id="chart-memory",
        traces=[trace] if bins else [],
        layout=base_layout(x_title="peak RSS (MB)", y_title="sessions", shapes=shapes, hovermode="closest"),
        title="Peak memory per session",
        description=f"Distribution of session peak RSS; p95 {p95_mb or '–'} MB against a budget of {budget_mb or '–'} MB.",
    )


def adoption_chart(*, x: Sequence[datetime], series: dict[str, Sequence[int]]) -> Chart:
    """Active devices per model version over time (one line per version, dashes differ too)."""
    traces = [
        line_trace(name=name, x=x, y=values, index=i, unit="devices") for i, (name, values) in enumerate(series.items())
    ]
    return chart(
        chart_id="chart-adoption",
        traces=traces if x else [],
        layout=base_layout(y_title="active devices"),
        title="Adoption: active devices per model version",
        description="Active devices on each model version over time.",
    )
