"""GET /api/v1/protocols/release-health/: Sentry release health beside the inference-session KPIs (scope read)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry.kpi.scope import api_time_range_parse

from .selectors import RELEASE_HEALTH_RELATION, release_health


class ReleaseHealthView(APIView):
    """Crash-free app sessions per release and device model (`from`, `to`, `release`, `device_model`)."""

    @extend_schema(
        operation_id="release_health",
        summary="Crash-free app sessions (Sentry release health) per release and device model",
        description=RELEASE_HEALTH_RELATION,
        parameters=[
            OpenApiParameter(name, OpenApiTypes.DATETIME if name in ("from", "to") else OpenApiTypes.STR)
            for name in ("from", "to", "release", "device_model")
        ],  # fmt: skip
        responses={200: OpenApiTypes.OBJECT},
        tags=["protocols"],
    )
    def get(self, request):
        try:  # the API's one strict reader of from/to (offsets within ±15:59, years PostgreSQL holds)
            time_range = api_time_range_parse(params=request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        start, end = time_range.start, time_range.end
        rows = release_health(start=start, end=end, release=request.query_params.get("release"),
                              device_model=request.query_params.get("device_model"))  # fmt: skip
        return Response({"from": start, "to": end, "relation": RELEASE_HEALTH_RELATION, "results": rows})
