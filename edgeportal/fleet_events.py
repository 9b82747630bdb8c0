"""Rollout events for the fleet page's time charts: the project composes them, since telemetry cannot import rollouts.

The page's scope decides which rollouts count: the model filter picks one model's rollouts (no model: every model's),
and a rollout whose own scope excludes the page's device model, tier, OS version or app version is left out.
"""

from datetime import datetime

from core.charts import ChartEvent
from rollouts.selectors import rollout_events

ACTION_COLORS = {
    "start": "#059669",
    "advance": "#2563eb",
    "resume": "#2563eb",
    "pause": "#d97706",
    "rollback": "#dc2626",
    "complete": "#7c3aed",
}
MARKED_ACTIONS = tuple(ACTION_COLORS)
COHORT_FILTERS = ("device_model", "tier", "os_version", "app_version")


def _scope_may_hold(scope: dict, filters: dict) -> bool:
    """False when the rollout's scope lists values for a filter the page sets and the page's value is not among them."""
    for key in COHORT_FILTERS:
        if key in filters and scope.get(key):
            wanted = int(filters[key]) if key == "tier" else str(filters[key])
            if wanted not in scope[key]:
                return False
    return True


def _label(event: dict) -> str:
    action = event["action"]
    what = f"advance to stage {event['stage'] + 1}" if action == "advance" else action
    by = " (guardrails)" if event["automatic"] else ""
    return f"{event['name']}: {what}{by}"


def rollout_chart_events(*, start: datetime, end: datetime, filters: dict) -> list[ChartEvent]:
    """Start, advance, pause, resume, rollback and complete of the rollouts in the page's scope, in [start, end)."""
    events = rollout_events(start=start, end=end, model_slug=filters.get("model"))
    return [
        ChartEvent(at=event["at"], label=_label(event), color=ACTION_COLORS[event["action"]])
        for event in events
        if event["action"] in MARKED_ACTIONS and _scope_may_hold(event["scope"], filters)
    ]
