"""`GET /api/v1/home/`: the KPI home's figures as JSON, from the selector the page renders."""

from dataclasses import asdict

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry.kpi.scope import SCOPE_PARAMS, scope_parse

from . import selectors


class TrendSerializer(serializers.Serializer):
    delta = serializers.FloatField(allow_null=True, help_text="current − previous, in the card's unit")
    unit = serializers.CharField()
    direction = serializers.ChoiceField(choices=["better", "worse", "flat", ""])
    text = serializers.CharField()


class WorstSerializer(serializers.Serializer):
    device_model = serializers.CharField()
    name = serializers.CharField()
    value = serializers.FloatField()
    target = serializers.FloatField()
    ratio = serializers.FloatField(help_text="value ÷ target: how far past its own target")


class CardSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    unit = serializers.ChoiceField(choices=["ms", "MB", "share", "per_1k", "hours"])
    target = serializers.FloatField(allow_null=True, help_text="null when judged per device model (see worst)")
    target_text = serializers.CharField()
    status = serializers.ChoiceField(choices=["met", "at_risk", "missed", "unknown"])
    display = serializers.CharField()
    trend = TrendSerializer(allow_null=True, help_text="null for the release KPIs (judged on the range alone)")
    worst = WorstSerializer(allow_null=True)
    note = serializers.CharField()
    link = serializers.CharField(help_text="the drill-down page behind the figure, '' when there is none")


class CohortSerializer(serializers.Serializer):
    device_model = serializers.CharField()
    model = serializers.CharField()
    model_version = serializers.CharField()
    runtime = serializers.CharField()
    runtime_version = serializers.CharField()
    delegate = serializers.CharField()
    devices = serializers.IntegerField(allow_null=True)
    sessions = serializers.IntegerField()
    misses = serializers.ListField(child=serializers.CharField())


HomeSerializer = inline_serializer(
    "Home",
    {
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "counts": serializers.DictField(child=serializers.IntegerField()),
        "cards": CardSerializer(many=True),
        "release_cards": CardSerializer(many=True, help_text="release KPIs (status met / missed), whole fleet"),
        "worst_cohorts": CohortSerializer(many=True),
        "worst_cohorts_total": serializers.IntegerField(),
    },
)


def _cohort(row: dict) -> dict:
    return {
        "device_model": row["device_model"].slug,
        "model": row["model_version"].ml_model.slug,
        "model_version": row["model_version"].version,
        "runtime": row["runtime_version"].runtime.slug,
        "runtime_version": row["runtime_version"].version,
        "delegate": row["delegate"].slug,
        "devices": row["kpis"].devices,
        "sessions": row["kpis"].sessions,
        "misses": list(row["misses"]),
    }


def _card(card: selectors.KpiCard) -> dict:
    body = {name: value for name, value in asdict(card).items() if name != "worst"}
    worst = card.worst
    body["worst"] = None if worst is None else {
        "device_model": worst.device_model, "name": worst.name, "value": worst.value, "target": worst.target,
        "ratio": worst.ratio,
    }  # fmt: skip
    return body


class HomeView(APIView):
    """Every KPI card of the home page (value, unit, target, status, trend, worst device model), the release KPI
    cards, the worst cohorts."""

    @extend_schema(
        parameters=[
            OpenApiParameter("range", str, enum=["24h", "7d", "30d", "custom"], description="default 7d"),
            *[OpenApiParameter(name, str) for name in SCOPE_PARAMS if name != "range"],
        ],
        responses=HomeSerializer,
    )
    def get(self, request):
        scope = scope_parse(request.query_params, default_range="7d")
        if scope.errors:
            raise ValidationError({"filters": scope.errors})
        home = selectors.home_dashboard_get(time_range=scope.time_range, filters=scope.filters)
        return Response(
            {
                "from": scope.time_range.start,
                "to": scope.time_range.end,
                "counts": selectors.catalog_counts(),
                "cards": [_card(card) for card in home["cards"]],
                "release_cards": [_card(card) for card in home["release_cards"]],
                "worst_cohorts": [_cohort(row) for row in home["worst_cohorts"]],
                "worst_cohorts_total": home["worst_cohorts_total"],
            }
        )
