"""The one chart helper: Plotly figures as plain JSON dicts, rendered by static/js/charts.js.

Figures are built as dicts (Plotly's JSON schema) rather than graph_objects: constructing validated
graph objects costs tens of milliseconds per chart, and a dashboard draws many.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#0891b2", "#4b5563", "#db2777")
# Dash styles as well as colours, so series stay distinguishable without colour vision.
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


@dataclass
class Chart:
    """A figure ready for the template: `{% include "includes/chart.html" with chart=... %}`."""

    chart_id: str
    figure: dict[str, Any]
    title: str = ""
    description: str = ""  # text alternative for screen readers
    height: int = 320
    empty_message: str = ""
    data_points: int = field(default=0)

    @property
    def data_id(self) -> str:
        return f"{self.chart_id}-data"

    @property
    def is_empty(self) -> bool:
        return self.data_points == 0


def base_layout(*, y_title: str = "", x_title: str = "", height: int = 320, **extra: Any) -> dict[str, Any]:
    layout = {
        "height": height,
        "margin": {"l": 56, "r": 24, "t": 24, "b": 48},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hovermode": "x unified",
        "hoverlabel": {"namelength": -1},  # whole trace names: the default cuts them at 15 characters
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"title": {"text": x_title}, "gridcolor": "#e5e7eb", "automargin": True},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#e5e7eb", "zeroline": False, "automargin": True},
        "colorway": list(PALETTE),
    }
    layout.update(extra)
    return layout


def hover(unit: str, value: str = "y", digits: str = ".4~g") -> str:
    """A hover template that prints the trace name, the value and its unit."""
    return f"%{{fullData.name}}: %{{{value}:{digits}}} {unit}".rstrip() + "<extra></extra>"


def line_trace(*, name: str, x: Sequence, y: Sequence, index: int = 0, unit: str = "", **extra: Any) -> dict[str, Any]:
    if unit:
        extra.setdefault("hovertemplate", hover(unit))
    return {
        "type": "scatter",
        "mode": "lines+markers" if len(x) < 60 else "lines",
        "name": name,
        "x": list(x),
        "y": list(y),
        "line": {"color": PALETTE[index % len(PALETTE)], "dash": DASHES[index % len(DASHES)], "width": 2},
        **extra,
    }


def target_line(*, value: float, name: str, axis: str = "y") -> dict[str, Any]:
    """A horizontal target/budget line across the whole x range (a layout shape plus an annotation)."""
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": axis,
        "y0": value,
        "y1": value,
        "line": {"color": "#dc2626", "dash": "dash", "width": 1.5},
        # Anchored at the right end, above the line: the text stays inside the plot whatever its length.
        "label": {
            "text": name, "textposition": "end", "xanchor": "right", "yanchor": "bottom",
            "font": {"color": "#dc2626", "size": 11},
        },
    }  # fmt: skip


def marker_line(*, value: float, name: str, color: str, dash: str = "dash", side: str = "left") -> dict[str, Any]:
    """A vertical line at x = value over the whole height, labelled inside the plot at its top, on `side` of it."""
    return {
        "type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": value, "x1": value,
        "line": {"color": color, "dash": dash, "width": 1.5},
        "label": {
            "text": name, "textposition": "end", "textangle": 0, "xanchor": "right" if side == "left" else "left",
            "yanchor": "top",
            "font": {"color": color, "size": 11},
        },
    }  # fmt: skip


@dataclass(frozen=True)
class ChartEvent:
    """A moment to mark on a time chart (a rollout started, paused, rolled back…): a vertical line and its label."""

    at: datetime
    label: str
    color: str = "#4b5563"


def event_line(event: ChartEvent) -> dict[str, Any]:
    """A dotted vertical line at the event's time over the whole height, its label written up along it."""
    return {
        "type": "line", "xref": "x", "yref": "paper", "x0": event.at, "x1": event.at, "y0": 0, "y1": 1,
        "line": {"color": event.color, "dash": "dot", "width": 1.5},
        # Written up the line: events close in time keep readable labels (side by side, not on top of each other).
        "label": {"text": event.label, "textposition": "end", "textangle": -90, "xanchor": "right",
                  "font": {"color": event.color, "size": 10}},
    }  # fmt: skip


def events_mark(target: Chart, events: Sequence[ChartEvent]) -> Chart:
    """The time chart with a line per event (an empty chart stays empty: its message says why), and the events in
    its text alternative."""
    if not events or target.is_empty:
        return target
    target.figure["layout"].setdefault("shapes", []).extend(event_line(event) for event in events)
    named = "; ".join(f"{event.label} at {event.at:%Y-%m-%d %H:%M}" for event in events)
    target.description = f"{target.description} Marked: {named}.".strip()
    return target


def chart(
    *,
    chart_id: str,
    traces: list[dict[str, Any]],
    layout: dict[str, Any] | None = None,
    title: str = "",
    description: str = "",
    empty_message: str = "No data in this range.",
    height: int = 320,
) -> Chart:
    layout = layout or base_layout(height=height)
    layout.setdefault("height", height)
    _range_with_targets(layout, traces)
    points = sum(len(t.get("x") or t.get("y") or t.get("values") or t.get("z") or ()) for t in traces)
    return Chart(
        chart_id=chart_id,
        figure={"data": traces, "layout": layout},
        title=title,
        description=description,
        height=layout["height"],
        empty_message=empty_message,
        data_points=points,
    )


def _range_with_targets(layout: dict[str, Any], traces: list[dict[str, Any]]) -> None:
    """The y range holds the data and every horizontal target line, with room for the target's label above it."""
    targets = [
        shape["y0"] for shape in layout.get("shapes", ())
        if shape.get("yref") == "y" and shape.get("y0") == shape.get("y1") and shape.get("y0") is not None
    ]  # fmt: skip
    values = [v for trace in traces for v in trace.get("y") or () if isinstance(v, int | float)]
    if not targets or not values or "yaxis" not in layout or "range" in layout["yaxis"]:
        return
    low, high = min(*values, *targets), max(*values, *targets)
    pad = (high - low) * 0.12 or abs(high) * 0.1 or 1.0
    layout["yaxis"]["range"] = [low - pad, high + pad]
