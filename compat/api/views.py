"""Compat API: three-line catalog viewsets plus the override action on entries."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from core.permissions import ReadOrUserPermission, user_permission_required

from .. import filtersets, services
from ..models import CompatEntry, Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion
from . import serializers

# The SlugField vocabulary: anything else (a NUL, which PostgreSQL cannot even compare: a 500) is a 404 at the router.
SLUG_PATTERN = r"[-a-zA-Z0-9_]+"


class DeviceModelViewSet(viewsets.ModelViewSet):
    queryset = DeviceModel.objects.all()
    serializer_class = serializers.DeviceModelSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN
    filterset_class = filtersets.DeviceModelFilterSet
    permission_classes = [ReadOrUserPermission]


class RuntimeViewSet(viewsets.ModelViewSet):
    queryset = Runtime.objects.all()
    serializer_class = serializers.RuntimeSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN
    filterset_class = filtersets.RuntimeFilterSet
    permission_classes = [ReadOrUserPermission]


class RuntimeVersionViewSet(viewsets.ModelViewSet):
    queryset = RuntimeVersion.objects.select_related("runtime")
    serializer_class = serializers.RuntimeVersionSerializer
    filterset_class = filtersets.RuntimeVersionFilterSet
    permission_classes = [ReadOrUserPermission]


class DelegateViewSet(viewsets.ModelViewSet):
    queryset = Delegate.objects.select_related("runtime")
    serializer_class = serializers.DelegateSerializer
    filterset_class = filtersets.DelegateFilterSet
    permission_classes = [ReadOrUserPermission]


class MLModelViewSet(viewsets.ModelViewSet):
    queryset = MLModel.objects.all()
    serializer_class = serializers.MLModelSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN
    filterset_class = filtersets.MLModelFilterSet
    permission_classes = [ReadOrUserPermission]


class ModelVersionViewSet(viewsets.ModelViewSet):
    queryset = ModelVersion.objects.select_related("ml_model")
    serializer_class = serializers.ModelVersionSerializer
    filterset_class = filtersets.ModelVersionFilterSet
    permission_classes = [ReadOrUserPermission]


class CompatEntryViewSet(viewsets.ModelViewSet):
    queryset = (
        CompatEntry.objects.select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate__runtime", "device_model", "override_by"
        )
        .prefetch_related("evidence")
        .order_by("id")
    )
    serializer_class = serializers.CompatEntrySerializer
    filterset_class = filtersets.CompatEntryFilterSet
    permission_classes = [ReadOrUserPermission]

    @extend_schema(
        methods=["POST"], request=serializers.OverrideInputSerializer, responses=serializers.CompatEntrySerializer
    )
    @extend_schema(
        methods=["DELETE"],
        request=serializers.OverrideClearInputSerializer,
        responses={200: serializers.CompatEntrySerializer},  # a bare serializer would be documented as a 204
    )
    @action(
        detail=True,
        methods=["post", "delete"],
        permission_classes=[user_permission_required("compat.override_compatentry")],
        serializer_class=serializers.OverrideInputSerializer,
    )
    def override(self, request, pk=None):
        """POST sets a manual status (reason required); DELETE clears it. Support and admin only."""
        entry = self.get_object()
        try:
            if request.method == "DELETE":
                data = serializers.OverrideClearInputSerializer(data=request.data or {})
                data.is_valid(raise_exception=True)
                services.compat_entry_override_clear(
                    entry=entry, user=request.user, reason=data.validated_data["reason"]
                )
            else:
                data = serializers.OverrideInputSerializer(data=request.data)
                data.is_valid(raise_exception=True)
                services.compat_entry_override(entry=entry, user=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        entry = self.get_queryset().get(pk=entry.pk)
        return Response(serializers.CompatEntrySerializer(entry).data, status=status.HTTP_200_OK)
