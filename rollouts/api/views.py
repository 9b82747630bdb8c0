"""Rollout API views: thin — parse, call one service or selector, answer (API.md Rollouts)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core.models import ApiKey, ApiKeyScope
from core.permissions import read_permitted
from core.roles import ADMIN, user_role

from .. import services
from ..evaluation import rollout_evaluate
from ..models import Decision, Rollout
from ..selectors import UnknownModel, assignment_get, rollouts_list
from ..validation import RolloutInputError
from .serializers import (
    ActionInputSerializer,
    AssignmentSerializer,
    RolloutInputSerializer,
    RolloutSerializer,
)

ROLLOUTS_WRITE = "rollouts:write"


class CanManageRollouts(BasePermission):
    """Reads: as the read API. Writes: an admin, or an API key with the rollouts:write scope."""

    message = "Changing rollouts needs the admin role or an API key with the 'rollouts:write' scope."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return read_permitted(self, request, view)
        if isinstance(request.auth, ApiKey):  # a fleet-bound key never changes a rollout: it spans every fleet
            return request.auth.has_scope(ROLLOUTS_WRITE) and not request.auth.fleet
        return user_role(request.user) == ADMIN


def _bad_request(error: RolloutInputError) -> Response:
    return Response({"error": "invalid rollout", "detail": error.errors}, status=status.HTTP_400_BAD_REQUEST)


def _conflict(error: services.RolloutConflict) -> Response:
    return Response({"error": str(error), "status": error.status}, status=status.HTTP_409_CONFLICT)


ACTIONS = {
    "start": services.rollout_start,
    "pause": services.rollout_pause,
    "resume": services.rollout_resume,
    "advance": services.rollout_advance,
    "rollback": services.rollout_rollback,
    "complete": services.rollout_complete,
}


class RolloutViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Rollouts: create, list, read, and the lifecycle actions."""

    serializer_class = RolloutSerializer
    permission_classes = [CanManageRollouts]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return rollouts_list()

    def _detail(self, pk) -> Response:
        return Response(RolloutSerializer(get_object_or_404(rollouts_list(), pk=pk)).data)

    @extend_schema(request=RolloutInputSerializer, responses={201: RolloutSerializer})
    def create(self, request):
        if not isinstance(request.data, dict):
            return _bad_request(RolloutInputError({"body": ["expected a JSON object"]}))
        try:
            rollout = services.rollout_create(data=request.data, actor=services.Actor.from_request(request))
        except RolloutInputError as error:
            return _bad_request(error)
        response = self._detail(rollout.pk)
        response.status_code = status.HTTP_201_CREATED
        return response

    def _act(self, request, pk, name: str) -> Response:
        get_object_or_404(Rollout, pk=pk)
        body = request.data if isinstance(request.data, dict) else {}
        reason = body.get("reason") or ""
        if not isinstance(reason, str):
            return _bad_request(RolloutInputError({"reason": ["reason must be a string"]}))
        kwargs = {"rollout_id": int(pk), "actor": services.Actor.from_request(request), "reason": reason}
        if name == "advance" and body.get("stage") is not None:
            if not isinstance(body["stage"], int) or isinstance(body["stage"], bool):
                return _bad_request(RolloutInputError({"stage": ["stage must be an integer"]}))
            kwargs["expected_stage"] = body["stage"]
        try:
            ACTIONS[name](**kwargs)
        except RolloutInputError as error:
            return _bad_request(error)
        except services.RolloutConflict as error:
            return _conflict(error)
        return self._detail(pk)

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._act(request, pk, "start")

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._act(request, pk, "pause")

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._act(request, pk, "resume")

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def advance(self, request, pk=None):
        return self._act(request, pk, "advance")

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        return self._act(request, pk, "rollback")

    @extend_schema(request=ActionInputSerializer, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        return self._act(request, pk, "complete")

    @extend_schema(request=None, responses={200: RolloutSerializer})
    @action(detail=True, methods=["post"])
    def evaluate(self, request, pk=None):
        get_object_or_404(Rollout, pk=pk)
        rollout_evaluate(rollout_id=int(pk))
        return self._detail(pk)

    @extend_schema(
        responses=inline_serializer(
            "RolloutAnalysis",
            {
                "decision": serializers.CharField(),
                "pass": serializers.BooleanField(),
                "reasons": serializers.ListField(),
            },
        )
    )
    @action(detail=True, methods=["get"])
    def analysis(self, request, pk=None):
        rollout = get_object_or_404(Rollout, pk=pk)
        verdict = rollout.verdict or {"decision": Decision.HOLD, "reasons": ["not evaluated yet"]}
        body = {
            "decision": verdict["decision"],
            "pass": verdict["decision"] == Decision.PROCEED,
            "reasons": verdict["reasons"],
        }
        return Response(body)


class CanAskAssignment(BasePermission):
    """Devices: a key with the ingest scope. People with a role may ask on a device's behalf (support)."""

    message = "Assignment needs an API key with the 'ingest' scope."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiKey):
            return request.auth.has_scope(ApiKeyScope.INGEST)
        return user_role(request.user) is not None


class AssignmentView(APIView):
    """Which version of a model this device should run now."""

    permission_classes = [CanAskAssignment]

    @extend_schema(
        parameters=[
            OpenApiParameter("model", str, required=True, description="ML model slug"),
            OpenApiParameter("device", str, description="Device uid (not needed with a device-bound key)"),
        ],
        responses={200: AssignmentSerializer},
    )
    def get(self, request):
        model = request.query_params.get("model")
        key = request.auth if isinstance(request.auth, ApiKey) else None
        device = request.query_params.get("device") or (key.device_uid if key else "")
        if key and key.device_uid and device != key.device_uid:
            raise PermissionDenied("A device-bound key can only ask for its own device.")
        errors = {}
        if not model:
            errors["model"] = ["model is required"]
        if not device:
            errors["device"] = ["device is required unless the key is bound to a device"]
        if errors:
            return Response({"error": "invalid request", "detail": errors}, status=status.HTTP_400_BAD_REQUEST)
        try:
            answer = assignment_get(model_slug=model, device_uid=device)
        except UnknownModel:
            return Response(
                {"error": "invalid request", "detail": {"model": [f"unknown model {model!r}"]}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(answer)
