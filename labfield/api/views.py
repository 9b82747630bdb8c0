"""Gap API: the ranked list (paged, filtered), one cell with its splits, the coverage gaps; thin over the selectors."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from compat.models import CompatEntry
from telemetry.kpi.scope import FILTER_LOOKUPS, scope_parse

from ..coverage_report import coverage_report_get
from ..drift import ORDERS as DRIFT_ORDERS
from ..drift import cell_drift_get, drift_list
from ..params import drift_query_parse, gap_query_parse, thermal_query_parse
from ..selectors import CELL_FILTERS, ENTRY_RELATED, ORDERS, cell_gap_get, gaps_list
from ..thermal import thermal_list
from .serializers import (
    CellDriftDetailSerializer,
    CellDriftSerializer,
    CellGapDetailSerializer,
    CellGapSerializer,
    CoverageGapSerializer,
    ThermalRowSerializer,
)

GAP_PARAMETERS = [
    *[OpenApiParameter(name, str, description="Catalog slug / version / id of the cell") for name in CELL_FILTERS],
    OpenApiParameter("flagged", bool, description="Only flagged (true) or only unflagged (false) cells"),
    OpenApiParameter("order", str, enum=list(ORDERS), description="devices (default): flagged first, most devices"),
]


class GapListView(generics.ListAPIView):
    """Cells with a lab figure and field sessions in the last 30 days, ranked; the same rows as /lab-field/gaps/."""

    serializer_class = CellGapSerializer
    filter_backends: list = []  # the one parser below reads the filters

    def get_queryset(self):
        try:
            query = gap_query_parse(self.request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return gaps_list(filters=query.filters, flagged=query.flagged, order=query.order)

    @extend_schema(parameters=GAP_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class GapDetailView(generics.GenericAPIView):
    """One compat cell's gap, with its 7-day thermal and OS-version splits."""

    serializer_class = CellGapDetailSerializer
    queryset = CompatEntry.objects.all()

    def get(self, request, cell_id: int):
        entry = get_object_or_404(CompatEntry.objects.select_related(*ENTRY_RELATED), pk=cell_id)
        return Response(CellGapDetailSerializer(cell_gap_get(entry=entry)).data)


THERMAL_PARAMETERS = [
    *[OpenApiParameter(name, str, description="Catalog slug / version / id of the cell") for name in CELL_FILTERS],
    OpenApiParameter("cell", int, description="One compat cell id: the rows of its page"),
]


class ThermalListView(generics.ListAPIView):
    """Latency and energy per device model × thermal state, last 7 days (raw sessions); the rows of /lab-field/thermal/."""

    serializer_class = ThermalRowSerializer
    filter_backends: list = []  # the one parser below reads the filters

    def get_queryset(self):
        try:
            query = thermal_query_parse(self.request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return thermal_list(filters=query.filters, cell=query.cell)

    @extend_schema(parameters=THERMAL_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


COVERAGE_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601; default 7 days before `to`"),
    OpenApiParameter("to", str, description="ISO 8601, exclusive; default now"),
    *[OpenApiParameter(name, str, description="Cohort filter, as on the KPI endpoints") for name in FILTER_LOOKUPS],
]


class CoverageGapListView(generics.ListAPIView):
    """Active (model version × device model) pairs without a matching successful lab run, most active devices first.

    The rows of /lab-field/coverage/ and its CSV (docs/lab-field.md, "Lab coverage").
    """

    serializer_class = CoverageGapSerializer
    filter_backends: list = []  # scope_parse reads the range and filters

    def get_queryset(self):
        try:
            scope = scope_parse(self.request.query_params, strict=True)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return coverage_report_get(scope=scope).gaps

    @extend_schema(parameters=COVERAGE_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


DRIFT_PARAMETERS = [
    *[OpenApiParameter(name, str, description="Catalog slug / version / id of the cell") for name in CELL_FILTERS],
    OpenApiParameter("drifting", bool, description="Only drifting (true) or only not drifting (false) cells"),
    OpenApiParameter("order", str, enum=list(DRIFT_ORDERS), description="devices (default): drifting first"),
]


class DriftListView(generics.ListAPIView):
    """Cells whose lab run reports op placement, with field sessions in the last 7 days: delegate-fallback drift,
    ranked by devices affected; the rows of /lab-field/drift/ and its CSV (docs/lab-field.md)."""

    serializer_class = CellDriftSerializer
    filter_backends: list = []  # the one parser below reads the filters

    def get_queryset(self):
        try:
            query = drift_query_parse(self.request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return drift_list(filters=query.filters, drifting=query.drifting, order=query.order)

    @extend_schema(parameters=DRIFT_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DriftDetailView(generics.GenericAPIView):
    """One compat cell's drift with its OS / app / firmware splits; 404 when it has no lab run reporting op
    placement or no field sessions in the last 7 days."""

    serializer_class = CellDriftDetailSerializer
    queryset = CompatEntry.objects.all()

    def get(self, request, cell_id: int):
        drift = cell_drift_get(entry=get_object_or_404(CompatEntry, pk=cell_id))
        if drift is None:
            raise NotFound("No lab run reporting op placement, or no field sessions in the last 7 days.")
        return Response(CellDriftDetailSerializer(drift).data)
