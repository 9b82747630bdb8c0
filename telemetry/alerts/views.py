"""The alert list page and API: open (or resolved / all) alerts ranked by impact (telemetry.alerts.selectors)."""

from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView

from ..models import Alert
from .selectors import ALERT_STATUSES, alerts_list

PAGE_SIZE = 50


def alert_list(request):
    status = request.GET.get("status", "open")
    try:
        alerts = alerts_list(status=status)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "telemetry/alerts.html", {"page": page, "status": status, "statuses": ALERT_STATUSES})


class AlertSerializer(serializers.ModelSerializer):
    rule = serializers.CharField(source="rule.name")
    kpi = serializers.CharField(source="rule.kpi")
    field_population = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "rule", "kpi", "cohort_key", "cohort_label", "cohort_filters", "status", "value", "threshold",
                  "sessions", "field_population", "opened_at", "last_seen_at", "resolved_at"]  # fmt: skip

    def get_field_population(self, alert) -> dict | None:
        """Regression alerts only (None on KPI alerts): in_field False says the cell has no field population."""
        if alert.field_devices is None:
            return None
        return {"in_field": alert.field_devices > 0, "active_devices": alert.field_devices,
                "sessions_per_day": alert.field_sessions_per_day, "fleet_share": alert.fleet_share}  # fmt: skip


class AlertListView(ListAPIView):
    """Alerts ranked by impact; `?status=open|resolved|all` (default open)."""

    serializer_class = AlertSerializer

    def get_queryset(self):
        try:
            return alerts_list(status=self.request.query_params.get("status", "open"))
        except ValueError as exc:
            raise ValidationError({"status": [str(exc)]}) from exc
