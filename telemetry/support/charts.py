"""Support page figures, through core.charts: plain sequences in, a Chart out (no queries here)."""

from collections.abc import Sequence
from datetime import datetime

from core.charts import Chart, base_layout, chart, hover


def crash_events_chart(*, points: Sequence[tuple[datetime, int]]) -> Chart:
    trace = {
        "type": "bar", "name": "crashes", "x": [p[0] for p in points], "y": [p[1] for p in points],
        "hovertemplate": hover("crashes", digits=","),
    }  # fmt: skip
    if len(points) >= 2:  # bars as wide as their bucket (ms on a date axis), not Plotly's guess from one bar
        trace["width"] = (points[1][0] - points[0][0]).total_seconds() * 1000 * 0.8
    return chart(
        chart_id="chart-crash-events",
        traces=[trace] if any(n for _, n in points) else [],
        layout=base_layout(y_title="crashes", height=240),
        title="Events over time",
        description="Crash reports in this group per time bucket.",
        height=240,
        empty_message="No crashes of this group in this range.",
    )
