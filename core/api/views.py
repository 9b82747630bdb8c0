from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import ApiKey
from ..roles import user_role

MeSerializer = inline_serializer(
    "Me",
    {
        "kind": serializers.ChoiceField(choices=["user", "api_key"]),
        "user": serializers.CharField(required=False),
        "role": serializers.CharField(required=False, allow_null=True),
        "key_name": serializers.CharField(required=False),
        "key_prefix": serializers.CharField(required=False),
        "scopes": serializers.ListField(child=serializers.CharField(), required=False),
        "device_uid": serializers.CharField(required=False, allow_null=True),
        "fleet": serializers.CharField(required=False, allow_null=True),
    },
)


class MeView(APIView):
    """Who is calling: the first thing a device integrator tries."""

    permission_classes = [IsAuthenticated]
    fleet_scoped = True  # says who is calling, fleets included: no fleet-wide figure

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        if isinstance(request.auth, ApiKey):
            key = request.auth
            return Response(
                {
                    "kind": "api_key",
                    "key_name": key.name,
                    "key_prefix": key.prefix,
                    "scopes": key.scopes,
                    "device_uid": key.device_uid or None,
                    "fleet": key.fleet or None,
                }
            )
        return Response({"kind": "user", "user": request.user.get_username(), "role": user_role(request.user)})
