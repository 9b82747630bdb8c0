"""The order alerts are listed in (docs/lab-field.md, "Regression alerts")."""

from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from ..models import Alert


def alerts_by_impact(queryset: QuerySet) -> QuerySet:
    """Regression alerts reaching field devices first (most devices, then most sessions/day), then the KPI alerts
    (newest first: their cohort is already a field population), then regression alerts with no field population."""
    band = Case(
        When(field_devices__gt=0, then=Value(0)),
        When(field_devices__isnull=True, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return queryset.alias(impact_band=band).order_by(
        "impact_band",
        F("field_devices").desc(nulls_last=True),
        F("field_sessions_per_day").desc(nulls_last=True),
        "-opened_at",
        "-id",
    )


ALERT_STATUSES = ("open", "resolved", "all")


def alerts_list(*, status: str = "open") -> QuerySet:
    """The alert list of the page and the API, by impact (one query; `status` is open, resolved or all)."""
    if status not in ALERT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(ALERT_STATUSES)}")
    queryset = Alert.objects.select_related("rule")
    if status != "all":
        queryset = queryset.filter(status=status)
    return alerts_by_impact(queryset)
