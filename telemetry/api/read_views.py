"""Read API: KPIs (the selector's numbers), devices and crash groups; paginated, filterable, no query per row."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.fleets import fleet_filter

from ..kpi.scope import FILTER_LOOKUPS, scope_params_check, scope_parse
from ..kpi.selectors import kpis_get
from ..models import CrashGroup, CrashGroupDevice, CrashReport, Device
from ..support.filtersets import CrashGroupFilterSet, DeviceFilterSet
from .read_serializers import (
    CrashGroupDetailSerializer,
    CrashGroupSerializer,
    DeviceDetailSerializer,
    DeviceSerializer,
    KpisSerializer,
)

RECENT_CRASHES = 10
DEVICE_CRASH_GROUPS = 20
KPI_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601 datetime or date (UTC); default: `to` minus 7 days"),
    OpenApiParameter("to", str, description="ISO 8601 datetime or date (UTC), exclusive; default: now"),
    *[OpenApiParameter(name, str, description="Catalog slug / version / value") for name in FILTER_LOOKUPS],
]


class KpisView(APIView):
    """KPIs for a scope and time range, from rollups (the same numbers as the pages)."""

    @extend_schema(parameters=KPI_PARAMETERS, responses=KpisSerializer)
    def get(self, request):
        try:
            scope = scope_parse(request.query_params, strict=True)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        start, end = scope.time_range.start, scope.time_range.end
        return Response(kpis_get(start=start, end=end, filters=scope.filters).as_api())


class ScopeCheckedMixin:
    """Filter values are judged by the one strict parser first: a bad one is a 400 naming it, never a 500."""

    def filter_queryset(self, queryset):
        try:
            scope_params_check(self.request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return super().filter_queryset(queryset)


class DeviceViewSet(ScopeCheckedMixin, viewsets.ReadOnlyModelViewSet):
    """Devices in the field; `/devices/{uid}/` adds the crash groups the device crashed in."""

    queryset = Device.objects.select_related("device_model").order_by("uid")
    filterset_class = DeviceFilterSet
    fleet_scoped = True  # a fleet-limited key or user reads its fleets' devices (core.fleets)
    lookup_field = "uid"
    lookup_value_regex = ".+"  # uids stored before ingest restricted them may hold a slash

    def get_queryset(self):
        return fleet_filter(super().get_queryset(), self.request)

    def get_serializer_class(self):
        return DeviceDetailSerializer if self.action == "retrieve" else DeviceSerializer

    def get_object(self):
        device = super().get_object()
        links = CrashGroupDevice.objects.filter(device=device).select_related("group")
        device.crash_group_links = list(links.order_by("-group__last_seen_at")[:DEVICE_CRASH_GROUPS])
        return device


class CrashGroupViewSet(ScopeCheckedMixin, viewsets.ReadOnlyModelViewSet):
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
