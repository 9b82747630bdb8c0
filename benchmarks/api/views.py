from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from benchmarks import field_impact, selectors
from benchmarks.filtersets import BenchmarkRunFilterSet, RegressionFilterSet
from benchmarks.importers.base import ArtifactError, FormatNotRecognised
from benchmarks.services import (
    CatalogError,
    RunExtras,
    RunIdentity,
    benchmark_run_create,
    benchmark_run_import,
    regression_triage,
    run_result_from_json,
)
from core.models import ApiKey, ApiKeyScope
from core.permissions import CanRead, user_permission_required
from core.roles import ADMIN, SUPPORT, user_role

from .serializers import (
    BenchmarkRunSerializer,
    RegressionSerializer,
    RegressionStatusSerializer,
    RunArtifactInputSerializer,
    RunJsonInputSerializer,
)

IDENTITY_FIELDS = (
    "model",
    "model_version",
    "runtime",
    "runtime_version",
    "delegate",
    "device_model",
    "build",
    "commit",
    "config",
    "environment",
    "ran_at",
)


class CanWriteBenchmarks(BasePermission):
    """Lab CI keys need the benchmarks:write scope; people need the support or admin role."""

    message = "Posting runs needs an API key with the 'benchmarks:write' scope, or the support/admin role."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope(ApiKeyScope.BENCHMARKS_WRITE)
        return user_role(request.user) in (SUPPORT, ADMIN)


def _bad_request(error: str, detail: dict, **extra) -> Response:
    return Response({"error": error, "detail": detail, **extra}, status=status.HTTP_400_BAD_REQUEST)


def _identity(data: dict) -> RunIdentity:
    return RunIdentity(**{name: data.get(name) for name in IDENTITY_FIELDS if data.get(name) is not None})


class BenchmarkRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Lab runs: list (filterable) and detail; POST takes JSON metrics or a native artifact (multipart)."""

    queryset = selectors.runs_with_ops()
    serializer_class = BenchmarkRunSerializer
    filterset_class = BenchmarkRunFilterSet
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_permissions(self):
        if self.action == "create":
            return [CanWriteBenchmarks()]
        return [CanRead()]

    @extend_schema(
        request={"application/json": RunJsonInputSerializer, "multipart/form-data": RunArtifactInputSerializer},
        responses={201: BenchmarkRunSerializer},
    )
    def create(self, request):
        if request.content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
            serializer = RunArtifactInputSerializer(data=request.data)
        else:
            serializer = RunJsonInputSerializer(data=request.data)
        if not serializer.is_valid():
            return _bad_request("invalid run", serializer.errors)
        data = serializer.validated_data
        accuracy = data.get("accuracy") or {}
        extras = RunExtras(
            accuracy_metric=accuracy.get("metric") or data.get("accuracy_metric") or "",
            accuracy_value=accuracy.get("value", data.get("accuracy_value")),
            energy_mj_per_inference=data.get("energy_mj_per_inference"),
        )
        try:
            if "format" in data:
                upload = data["artifact"]
                run = benchmark_run_import(
                    identity=_identity(data),
                    source_format=data["format"],
                    data=upload.read(),
                    filename=upload.name,
                    content_type=upload.content_type or "application/octet-stream",
                    extras=extras,
                    register_versions=data["register_versions"],
                )
            else:
                run = benchmark_run_create(
                    identity=_identity(data),
                    result=run_result_from_json(data),
                    extras=extras,
                    register_versions=data["register_versions"],
                )
        except FormatNotRecognised as exc:
            return _bad_request(str(exc), {"format": [str(exc)]}, tried=exc.tried)
        except ArtifactError as exc:
            return _bad_request(f"malformed artifact: {exc}", {"artifact": [str(exc)]}, line=exc.line, field=exc.field)
        except CatalogError as exc:
            return _bad_request(str(exc), {field: [message] for field, message in exc.errors.items()})
        return Response(
            BenchmarkRunSerializer(selectors.runs_with_ops().get(id=run.id)).data, status=status.HTTP_201_CREATED
        )


class RegressionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Detected regressions (filterable); PATCH status is triage, for people with the triage permission."""

    queryset = selectors.regressions_list()
    serializer_class = RegressionSerializer
    filterset_class = RegressionFilterSet
    http_method_names = ["get", "patch", "head", "options"]

    def get_permissions(self):
        if self.action == "partial_update":
            return [user_permission_required("benchmarks.triage_regression")()]
        return [CanRead()]

    def get_queryset(self):
        rows = field_impact.regressions_with_impact(super().get_queryset())
        if self.action == "list" and self.request.query_params.get("order") == field_impact.IMPACT_ORDER:
            rows = field_impact.regressions_by_impact(rows)
        return rows

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "order", str, enum=[field_impact.IMPACT_ORDER], description="impact: most field devices first"
            )
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=RegressionStatusSerializer, responses={200: RegressionSerializer})
    def partial_update(self, request, pk=None):
        regression = self.get_object()
        serializer = RegressionStatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        regression_triage(regression=regression, status=serializer.validated_data["status"], user=request.user)
        return Response(RegressionSerializer(self.get_queryset().get(pk=regression.pk)).data)
