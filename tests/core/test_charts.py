"""The chart helper: labels stay inside the plot, hovers carry units."""

from datetime import UTC, datetime, timedelta

from core.charts import base_layout, line_trace, marker_line, target_line
from telemetry.fleet.charts import crash_free_chart, errors_chart, latency_chart, memory_chart

X = [datetime(2026, 11, 30, tzinfo=UTC) + timedelta(hours=h) for h in range(3)]


def test_a_target_label_is_anchored_inside_the_plot_at_the_lines_right_end():
    label = target_line(value=300, name="p95 budget 300 ms")["label"]
    assert (label["text"], label["textposition"], label["xanchor"], label["yanchor"]) == (
        "p95 budget 300 ms", "end", "right", "bottom",
    )  # fmt: skip


def test_a_vertical_marker_label_reads_horizontally_below_the_top_of_the_plot():
    label = marker_line(value=300, name="budget 300 MB", color="#dc2626", side="right")["label"]
    assert (label["textangle"], label["yanchor"], label["xanchor"]) == (0, "top", "left")
    assert marker_line(value=300, name="p95", color="#111827")["label"]["xanchor"] == "right"


def test_the_y_range_holds_a_target_above_the_data_with_room_for_its_label():
    layout = errors_chart(x=X, errors_per_1k=[0.2, 0.4, 0.3], target=1.0).figure["layout"]
    low, high = layout["yaxis"]["range"]
    assert low < 0.2 and high > 1.0 + 0.05


def test_hover_shows_whole_names_and_units():
    assert base_layout()["hoverlabel"]["namelength"] == -1
    assert line_trace(name="p95", x=X, y=[1, 2, 3], unit="ms")["hovertemplate"] == (
        "%{fullData.name}: %{y:.4~g} ms<extra></extra>"
    )
    assert "hovertemplate" not in line_trace(name="n", x=X, y=[1, 2, 3])


def test_fleet_charts_put_units_on_every_hover_and_full_figures_on_their_lines():
    latency = latency_chart(x=X, p50=[1, 2, 3], p95=[4, 5, 6], p99=[7, 8, 9], budget_ms=300)
    assert all(trace["hovertemplate"].endswith(" ms<extra></extra>") for trace in latency.figure["data"])
    assert latency.figure["layout"]["shapes"][0]["label"]["text"] == "p95 budget 300 ms"
    crash_free = crash_free_chart(x=X, crash_free=[0.99, 0.995, 1.0], target=0.995)
    assert crash_free.figure["data"][0]["hovertemplate"].endswith(" %<extra></extra>")
    memory = memory_chart(bins=[(250.0, 3), (310.0, 1)], budget_mb=300.0, p95_mb=354.3)
    assert [shape["label"]["text"] for shape in memory.figure["layout"]["shapes"]] == ["budget 300 MB", "p95 354 MB"]
    assert memory.figure["data"][0]["hovertemplate"] == "%{x} MB: %{y:,} sessions<extra></extra>"
