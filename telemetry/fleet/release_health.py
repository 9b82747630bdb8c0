"""The fleet page's release-health panel: app sessions per release × device model beside the inference sessions.

App sessions (Sentry release health) are not telemetry's: the project hands them in through the URLconf, as it hands
in rollout markers (telemetry cannot import protocols). Telemetry adds what it owns, the inference-session
crash-free rate of the same app version and device model in the same scope; without app sessions, no panel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from ..kpi.buckets import range_snap
from ..kpi.grains import daily_model, hourly_model
from ..kpi.reads import grouped_totals
from ..kpi.scope import filter_q

# The page filters app sessions can honour: they know a release and a device's model, nothing of its inferences.
APP_SESSION_FILTERS = ("device_model", "app_version")
PAIR_FIELDS = ("app_version", "device_model__slug")


@dataclass(frozen=True)
class AppSessions:
    """Sentry app sessions of one release on one device model ("" when the device's model is not known yet)."""

    release: str
    app_version: str
    device_model: str
    sessions: int
    crashed: int
    abnormal: int
    errored: int
    crash_free_sessions: float | None


@dataclass(frozen=True)
class ReleaseHealth:
    """What the project hands in: the app-session rows of the scope and the sentence relating them to the KPIs."""

    relation: str
    rows: Sequence[AppSessions]


# (start=, end=, filters=) -> ReleaseHealth, or None when there is nothing to show.
ReleaseHealthRows = Callable[..., ReleaseHealth | None]


@dataclass(frozen=True)
class ReleaseHealthRow:
    """One release × device model: its app sessions beside its inference sessions."""

    app: AppSessions
    inference_sessions: int
    inference_crashed: int
    inference_crash_free: float | None


@dataclass(frozen=True)
class ReleaseHealthPanel:
    relation: str
    rows: list[ReleaseHealthRow]
    unapplied_filters: list[str]


def inference_crash_free(
    *, start: datetime, end: datetime, filters: Mapping[str, object], pairs: set[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(sessions, crashed sessions) of inference sessions per (app version, device model) among ``pairs``, from
    rollups in ≤ 4 queries whatever the number of pairs."""
    if not pairs:
        return {}
    versions, models = {version for version, _ in pairs}, {model for _, model in pairs}
    q = filter_q(filters) & Q(app_version__in=versions, device_model__slug__in=models)
    groups = grouped_totals(
        start=start, end=end, q=q, fields=PAIR_FIELDS, daily=daily_model(filters=filters, fields=PAIR_FIELDS),
        hourly=hourly_model(filters=filters, fields=PAIR_FIELDS),
    )  # fmt: skip
    return {key: (totals.sessions, totals.crashed_sessions) for key, totals in groups.items()}


def release_health_panel(
    source: ReleaseHealthRows | None, *, start: datetime, end: datetime, filters: Mapping[str, object]
) -> ReleaseHealthPanel | None:
    """The panel of the page's scope (its range snapped to hours, as the KPIs read it); None without app sessions."""
    if source is None:
        return None
    start, end = range_snap(start, end)
    handed = source(start=start, end=end, filters=filters)
    if handed is None or not handed.rows:
        return None
    pairs = {(row.app_version, row.device_model) for row in handed.rows if row.device_model}
    inference = inference_crash_free(start=start, end=end, filters=filters, pairs=pairs)
    rows = []
    for app in handed.rows:
        sessions, crashed = inference.get((app.app_version, app.device_model), (0, 0))
        rows.append(ReleaseHealthRow(app=app, inference_sessions=sessions, inference_crashed=crashed,
                                     inference_crash_free=1 - crashed / sessions if sessions else None))  # fmt: skip
    unapplied = sorted(name for name in filters if name not in APP_SESSION_FILTERS)
    return ReleaseHealthPanel(relation=handed.relation, rows=rows, unapplied_filters=unapplied)
