"""The rollout page's figure: candidate vs control per device model, with 95 % intervals (through core.charts)."""

from core.charts import Chart, base_layout, chart

ARM_COLOURS = {"candidate": "#d97706", "control": "#2563eb"}


def arms_chart(*, arms: dict, kpi: str, label: str, chart_id: str) -> Chart:
    """One bar pair per device model (and the whole arm), error bars from the stored intervals."""
    traces = []
    for arm_name in ("candidate", "control"):
        arm = arms.get(arm_name) or {}
        groups = [("all", arm)] + sorted((arm.get("by_device_model") or {}).items())
        x, y, plus, minus = [], [], [], []
        for name, part in groups:
            value = (part.get("kpis") or {}).get(kpi)
            if value is None:
                continue
            low, high = (part.get("intervals") or {}).get(kpi) or (value, value)
            x.append(name)
            y.append(value)
            plus.append(max(0.0, high - value))
            minus.append(max(0.0, value - low))
        traces.append(
            {
                "type": "bar",
                "name": arm_name,
                "x": x,
                "y": y,
                "marker": {"color": ARM_COLOURS[arm_name]},
                "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
            }
        )
    return chart(
        chart_id=chart_id,
        traces=traces,
        layout=base_layout(y_title=label, height=280, barmode="group", hovermode="closest"),
        title=f"{label}: candidate vs control (95 % intervals)",
        description=f"{label} of the candidate and control arms per device model, with 95 % confidence intervals",
        empty_message="No sessions in this stage yet.",
    )
