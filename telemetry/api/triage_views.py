"""Triage actions on crash groups for people with telemetry.triage_crashgroup: PATCH, notes, merge, unmerge.

Routes (telemetry/api/urls.py) sit before the read router at the same paths; GET on a group delegates to the
read API's detail view so one URL serves both.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import read_permitted, user_permission_required

from ..models import CrashGroup, CrashGroupNote, CrashGroupStatus
from ..support import triage
from ..support.triage import TRIAGE_PERMISSION
from .read_serializers import CrashGroupDetailSerializer
from .read_views import CrashGroupViewSet  # the read API owns the GET representation

User = get_user_model()


class TriageStateSerializer(serializers.ModelSerializer):
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = CrashGroup
        fields = ["id", "title", "status", "assignee", "resolved_in_version", "event_count", "device_count"]


class TriagePatchSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CrashGroupStatus.choices, required=False)
    assignee = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    resolved_in_version = serializers.CharField(max_length=40, required=False, allow_blank=True)


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CrashGroupNote
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class MergeSerializer(serializers.Serializer):
    source = serializers.IntegerField(help_text="Id of the group folded into this one (it is deleted)")


class TriagePermission(user_permission_required(TRIAGE_PERMISSION)):
    """Reads as the read API; writes need the triage permission (viewers and API keys get 403)."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return read_permitted(self, request, view)
        return super().has_permission(request, view)


def _django_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class CrashGroupTriageView(APIView):
    """PATCH status / assignee / resolved_in_version of one crash group; GET is the read API's detail."""

    permission_classes = [TriagePermission]

    @extend_schema(responses=CrashGroupDetailSerializer)
    def get(self, request, pk: int):
        return CrashGroupViewSet.as_view({"get": "retrieve"})(request._request, pk=pk)

    @extend_schema(request=TriagePatchSerializer, responses=TriageStateSerializer)
    def patch(self, request, pk: int):
        group = get_object_or_404(CrashGroup, pk=pk)
        body = TriagePatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data.get("resolved_in_version") and data.get("status", group.status) != CrashGroupStatus.RESOLVED:
            raise ValidationError({"resolved_in_version": "Only a resolved group has a fixed-in version."})
        try:
            with transaction.atomic():
                if "assignee" in data:
                    triage.crash_group_assign(group_id=group.pk, user=request.user, assignee=data["assignee"])
                if "status" in data:
                    triage.crash_group_status_set(
                        group_id=group.pk,
                        user=request.user,
                        status=data["status"],
                        resolved_in_version=data.get("resolved_in_version", ""),
                    )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        group.refresh_from_db()
        return Response(TriageStateSerializer(group).data)


class CrashGroupNotesView(APIView):
    """GET a group's notes; POST adds one (audited)."""

    permission_classes = [TriagePermission]

    @extend_schema(responses=NoteSerializer(many=True))
    def get(self, request, pk: int):
        group = get_object_or_404(CrashGroup, pk=pk)
        notes = group.triage_notes.select_related("author")
        return Response(NoteSerializer(notes, many=True).data)

    @extend_schema(request=NoteSerializer, responses={201: NoteSerializer})
    def post(self, request, pk: int):
        group = get_object_or_404(CrashGroup, pk=pk)
        body = NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            note = triage.crash_group_note_add(group_id=group.pk, user=request.user, body=body.validated_data["body"])
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return Response(NoteSerializer(note).data, status=status.HTTP_201_CREATED)


class CrashGroupMergeView(APIView):
    """POST {"source": id}: folds that group into this one."""

    permission_classes = [user_permission_required(TRIAGE_PERMISSION)]

    @extend_schema(request=MergeSerializer, responses=TriageStateSerializer)
    def post(self, request, pk: int):
        body = MergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        get_object_or_404(CrashGroup, pk=pk)
        get_object_or_404(CrashGroup, pk=body.validated_data["source"])
        try:
            target = triage.crash_group_merge(target_id=pk, source_id=body.validated_data["source"], user=request.user)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return Response(TriageStateSerializer(target).data)


class CrashGroupUnmergeView(APIView):
    """POST {"source": id}: undoes the latest merge of that group into this one; answers the restored group."""

    permission_classes = [user_permission_required(TRIAGE_PERMISSION)]

    @extend_schema(request=MergeSerializer, responses=TriageStateSerializer)
    def post(self, request, pk: int):
        body = MergeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        get_object_or_404(CrashGroup, pk=pk)
        try:
            source = triage.crash_group_unmerge(
                target_id=pk, source_id=body.validated_data["source"], user=request.user
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        return Response(TriageStateSerializer(source).data, status=status.HTTP_201_CREATED)


triage_urlpatterns = [
    path("telemetry/crash-groups/<int:pk>/", CrashGroupTriageView.as_view(), name="crashgroup-triage"),
    path("telemetry/crash-groups/<int:pk>/notes/", CrashGroupNotesView.as_view(), name="crashgroup-notes"),
    path("telemetry/crash-groups/<int:pk>/merge/", CrashGroupMergeView.as_view(), name="crashgroup-merge"),
    path("telemetry/crash-groups/<int:pk>/unmerge/", CrashGroupUnmergeView.as_view(), name="crashgroup-unmerge"),
]
