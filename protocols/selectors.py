"""Reads of the protocol adapters' own rows: release health (crash-free app sessions) per release × device model."""

from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .ingest_bridge import Device
from .models import ReleaseHealthAggregate, ReleaseHealthSession, SentrySessionStatus

# How app sessions relate to the inference-session KPIs: said by the API and beside the figures on the fleet page.
RELEASE_HEALTH_RELATION = (
    "App sessions are process runs reported by Sentry SDKs (crash-free = 1 - crashed / sessions); the KPI "
    "crash_free_sessions counts inference sessions. A Sentry crash tagged edge.session_id marks that inference "
    "session crashed, so both rates move together when crashes happen during inference."
)


def _device_model_of_uid():
    # In SQL, grouped by: a release-health row knows only its `did`; the device's model is telemetry's.
    return Coalesce(
        Subquery(Device.objects.filter(uid=OuterRef("device_uid")).values("device_model__slug")[:1]), Value("")
    )


def release_health(
    *,
    start: datetime,
    end: datetime,
    release: str | None = None,
    device_model: str | None = None,
    app_version: str | None = None,
) -> list[dict]:
    """[{release, device_model, sessions, crashed, abnormal, errored, crash_free_sessions}] of app sessions started
    in [start, end): Sentry's definitions (crash-free = 1 − crashed ÷ sessions), individual and aggregated
    sessions summed. `device_model` is "" for a device the portal has not seen in an ingest batch yet;
    `app_version` keeps the releases whose app version (after the last `@`, as crash reports read it) is that one."""
    sessions = ReleaseHealthSession.objects.filter(started__gte=start, started__lt=end)
    aggregates = ReleaseHealthAggregate.objects.filter(started__gte=start, started__lt=end)
    if release:
        sessions, aggregates = sessions.filter(release=release), aggregates.filter(release=release)
    if app_version:
        of_version = Q(release=app_version) | Q(release__endswith=f"@{app_version}")
        sessions, aggregates = sessions.filter(of_version), aggregates.filter(of_version)
    status = SentrySessionStatus
    rows = list(
        sessions.annotate(device_model=_device_model_of_uid())
        .values("release", "device_model")
        .annotate(
            sessions=Count("id"),
            crashed=Count("id", filter=Q(status=status.CRASHED)),
            abnormal=Count("id", filter=Q(status=status.ABNORMAL)),
            errored=Count(
                "id", filter=Q(status=status.ERRORED) | (Q(errors__gt=0) & Q(status__in=[status.OK, status.EXITED]))
            ),
        )  # fmt: skip
    )
    total = Sum("exited") + Sum("errored") + Sum("abnormal") + Sum("crashed")
    rows += list(
        aggregates.annotate(device_model=_device_model_of_uid())
        .values("release", "device_model")
        .annotate(
            sessions=Coalesce(total, 0, output_field=IntegerField()),
            crashed=Sum("crashed"),
            abnormal=Sum("abnormal"),
            errored=Sum("errored"),
        )  # fmt: skip
    )
    merged: dict[tuple[str, str], dict] = {}
    for row in rows:
        if device_model and row["device_model"] != device_model:
            continue
        held = merged.setdefault((row["release"], row["device_model"]), {
            "release": row["release"], "device_model": row["device_model"], "sessions": 0, "crashed": 0,
            "abnormal": 0, "errored": 0,
        })  # fmt: skip
        for field in ("sessions", "crashed", "abnormal", "errored"):
            held[field] += row[field] or 0
    for held in merged.values():
        held["crash_free_sessions"] = 1 - held["crashed"] / held["sessions"] if held["sessions"] else None
    return sorted(merged.values(), key=lambda row: (row["release"], row["device_model"]))
