"""Read API: KPIs (the selector's numbers), devices and crash groups; paginated, filterable, no query per row."""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..filtersets import CrashGroupFilterSet, DeviceFilterSet, moment_parse
from ..models import CrashGroup, CrashGroupDevice, CrashReport, Device
from .read_serializers import (
    CrashGroupDetailSerializer,
    CrashGroupSerializer,
    DeviceDetailSerializer,
    DeviceSerializer,
    KpisSerializer,
)

DEFAULT_KPI_RANGE = timedelta(days=7)
RECENT_CRASHES = 10
DEVICE_CRASH_GROUPS = 20
KPI_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601 datetime or date (UTC); default: `to` minus 7 days"),
    OpenApiParameter("to", str, description="ISO 8601 datetime or date (UTC), exclusive; default: now"),
    *[OpenApiParameter(name, str, description="Catalog slug / version / value") for name in selectors.FILTER_LOOKUPS],
]


def kpi_range_parse(params) -> tuple:
    """(start, end) from `from`/`to`; ValidationError naming the bad parameter."""
    errors, moments = {}, {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw:
            moments[name] = moment_parse(raw)
            if moments[name] is None:
                errors[name] = [f"Not an ISO 8601 date or datetime: {raw!r}."]
    if errors:
        raise ValidationError(errors)
    end = moments.get("to") or timezone.now()
    start = moments.get("from") or end - DEFAULT_KPI_RANGE
    if start >= end:
        raise ValidationError({"from": ["`from` must be before `to`."]})
    return start, end


class KpisView(APIView):
    """KPIs for a scope and time range, from rollups (the same numbers as the pages)."""

    @extend_schema(parameters=KPI_PARAMETERS, responses=KpisSerializer)
    def get(self, request):
        start, end = kpi_range_parse(request.query_params)
        try:
            filters = selectors.kpi_filters_clean(params=request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return Response(selectors.kpis_get(start=start, end=end, filters=filters).as_api())


class DeviceViewSet(viewsets.ReadOnlyModelViewSet):
    """Devices in the field; `/devices/{uid}/` adds the crash groups the device crashed in."""

    queryset = Device.objects.select_related("device_model").order_by("uid")
    filterset_class = DeviceFilterSet
    lookup_field = "uid"
    lookup_value_regex = "[^/]+"

    def get_serializer_class(self):
        return DeviceDetailSerializer if self.action == "retrieve" else DeviceSerializer

    def get_object(self):
        device = super().get_object()
        links = CrashGroupDevice.objects.filter(device=device).select_related("group")
        device.crash_group_links = list(links.order_by("-group__last_seen_at")[:DEVICE_CRASH_GROUPS])
        return device


class CrashGroupViewSet(viewsets.ReadOnlyModelViewSet):
    """Crash groups, most recently seen first; the detail adds the latest crashes."""

    queryset = CrashGroup.objects.select_related("assignee").order_by("-last_seen_at", "-id")
    filterset_class = CrashGroupFilterSet

    def get_serializer_class(self):
        return CrashGroupDetailSerializer if self.action == "retrieve" else CrashGroupSerializer

    def get_object(self):
        group = super().get_object()
        crashes = CrashReport.objects.filter(group=group).select_related(
            "device", "device_model", "model_version__ml_model", "runtime_version__runtime", "delegate"
        )
        group.recent_crashes = list(crashes.order_by("-occurred_at")[:RECENT_CRASHES])
        return group
