"""Sentry release health for the fleet page: the project composes it, since telemetry cannot import protocols.

App sessions know a release and a device's model: of the page's filters they honour device model and app version
(a release's app version is what follows its last `@`, as crash reports read it); the page says which others it set.
"""

from collections.abc import Mapping
from datetime import datetime

from protocols.selectors import RELEASE_HEALTH_RELATION, release_health
from protocols.sentry.events import app_version_of
from telemetry.fleet.release_health import AppSessions, ReleaseHealth


def release_health_rows(*, start: datetime, end: datetime, filters: Mapping[str, object]) -> ReleaseHealth | None:
    """App sessions per release × device model started in [start, end) in the page's scope; None when there are none."""
    rows = release_health(start=start, end=end, device_model=filters.get("device_model") or None,
                          app_version=filters.get("app_version") or None)  # fmt: skip
    if not rows:
        return None
    return ReleaseHealth(
        relation=RELEASE_HEALTH_RELATION,
        rows=[AppSessions(app_version=app_version_of(row["release"]), **row) for row in rows],
    )
