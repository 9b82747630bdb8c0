"""Read API of the readiness verdicts (scope `read` or any role): thin, one selector each."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from compat.models import CompatEntry, ModelVersion
from core.permissions import CanRead

from .. import selectors
from .serializers import PathReadinessSerializer, ReleaseReadinessSerializer, path_body, release_body


class ReleaseReadinessView(APIView):
    """A model version's verdict per device model and runtime path, with every reason (the release page's data)."""

    permission_classes = [CanRead]

    @extend_schema(responses=ReleaseReadinessSerializer, operation_id="release_readiness")
    def get(self, request, model: str, version: str):
        mv = get_object_or_404(ModelVersion.objects.select_related("ml_model"), ml_model__slug=model, version=version)
        return Response(
            ReleaseReadinessSerializer(release_body(selectors.version_readiness_get(model_version=mv))).data
        )


class CellReadinessView(APIView):
    """One compat cell's verdict (the cell page's card)."""

    permission_classes = [CanRead]

    @extend_schema(responses=PathReadinessSerializer, operation_id="cell_readiness")
    def get(self, request, entry_id: int):
        try:
            path = selectors.path_readiness_get(entry_id=entry_id)
        except CompatEntry.DoesNotExist:
            raise NotFound("No such compat cell.") from None
        return Response(PathReadinessSerializer(path_body(path)).data)
