"""GET /metrics in Prometheus' exposition format: fleet KPIs per cohort, ingest counters, rollup lag, queue, alerts.

Everything is read at scrape time from the database and Redis, never from one process's memory, so every
gunicorn worker answers the same. Cohort labels are bounded: the METRICS_TOP_COHORTS cohorts with the most
sessions over the last 24 h get their own series, the rest are summed into one `_other` series.
"""

import ipaddress
from datetime import timedelta

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.views import APIView

from compat.models import Delegate, DeviceModel, ModelVersion, RuntimeVersion

from .ingest_bridge import (
    Alert,
    AlertStatus,
    ApiKeyAuthentication,
    ApiKeyScope,
    RollupDirtyHour,
    kpi_breakdown,
    kpis_get,
)
from .metrics_counters import ingest_counters

KPI_WINDOW = timedelta(hours=24)
COHORT_LABELS = ("device_model", "model", "model_version", "runtime", "runtime_version", "delegate")
OTHER = "_other"


def _cohort_labels(cohorts: list[tuple[int, int, int, int]]) -> dict[tuple, list[str]]:
    """{(device_model_id, model_version_id, runtime_version_id, delegate_id): label values}: four reads for top N."""
    device_models = dict(DeviceModel.objects.filter(id__in={c[0] for c in cohorts}).values_list("id", "slug"))
    versions = {v.id: (v.ml_model.slug, v.version) for v in
                ModelVersion.objects.filter(id__in={c[1] for c in cohorts}).select_related("ml_model")}  # fmt: skip
    runtimes = {v.id: (v.runtime.slug, v.version) for v in
                RuntimeVersion.objects.filter(id__in={c[2] for c in cohorts}).select_related("runtime")}  # fmt: skip
    delegates = dict(Delegate.objects.filter(id__in={c[3] for c in cohorts}).values_list("id", "slug"))
    return {
        cohort: [device_models.get(cohort[0], "?"), *versions.get(cohort[1], ("?", "?")),
                 *runtimes.get(cohort[2], ("?", "?")), delegates.get(cohort[3], "?")]
        for cohort in cohorts
    }  # fmt: skip


class PortalCollector:
    """A one-scrape collector: reads once per collect(), registered in a fresh registry per request."""

    def collect(self):
        yield from self._cohort_kpis()
        yield from self._ingest_counters()
        yield from self._pipeline()

    def _cohort_kpis(self):
        end = timezone.now()
        start = end - KPI_WINDOW
        rows = kpi_breakdown(start=start, end=end, dimension="cohort", count_devices=True)
        top, rest = rows[: settings.METRICS_TOP_COHORTS], rows[settings.METRICS_TOP_COHORTS :]
        labels = _cohort_labels([cohort for cohort, _ in top])
        make = lambda name, doc: GaugeMetricFamily(f"edgeportal_cohort_{name}", doc, labels=COHORT_LABELS)  # noqa: E731
        families = {
            "sessions": make("sessions", "Inference sessions started in the last 24 h"),
            "crashed_sessions": make("crashed_sessions", "Sessions with a crash, last 24 h"),
            "inferences": make("inferences", "Inferences, last 24 h"),
            "errors": make("errors", "Inference errors, last 24 h"),
            "crash_free_sessions": make("crash_free_sessions_ratio", "Sessions without a crash / sessions, last 24 h"),
            "p95_latency_ms": make("latency_p95_seconds", "p95 inference latency merged from histograms, last 24 h"),
            "errors_per_1k": make("errors_per_1k_inferences", "Inference errors per 1,000 inferences, last 24 h"),
            "accelerator_utilization": make("accelerator_utilization_ratio", "Inference-weighted accelerated fraction"),
            "devices": make("devices", "Distinct devices with sessions, last 24 h"),
        }
        for cohort, kpis in top:
            values = labels[cohort]
            for field, family in families.items():
                value = getattr(kpis, field)
                if value is not None:
                    family.add_metric(values, value / 1000 if field == "p95_latency_ms" else value)
        if rest:  # additive figures only: quantiles and ratios of the rest come from the fleet series below
            for field in ("sessions", "crashed_sessions", "inferences", "errors"):
                families[field].add_metric([OTHER] * len(COHORT_LABELS), sum(getattr(k, field) for _, k in rest))
        yield from families.values()
        fleet = kpis_get(start=start, end=end)
        for name, doc, value in [
            ("sessions", "Inference sessions in the last 24 h, whole fleet", fleet.sessions),
            ("crash_free_sessions_ratio", "Crash-free sessions, whole fleet, last 24 h", fleet.crash_free_sessions),
            ("latency_p95_seconds", "p95 latency, whole fleet, last 24 h",
             fleet.p95_latency_ms / 1000 if fleet.p95_latency_ms is not None else None),
            ("devices", "Active devices, last 24 h", fleet.devices),
        ]:  # fmt: skip
            if value is not None:
                yield GaugeMetricFamily(f"edgeportal_fleet_{name}", doc, value=value)

    def _ingest_counters(self):
        family = CounterMetricFamily(
            "edgeportal_ingest_events", "Events through ingest, by transport and outcome (rejected: by reason)",
            labels=("transport", "outcome", "reason"),
        )  # fmt: skip
        for (transport, outcome, reason), value in sorted(ingest_counters().items()):
            family.add_metric([transport, outcome, reason], value)
        yield family

    def _pipeline(self):
        oldest = RollupDirtyHour.objects.order_by("marked_at").values_list("marked_at", flat=True).first()
        lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("edgeportal_rollup_lag_seconds", "Age of the oldest hour waiting for its rollup",
                                value=max(lag, 0.0))  # fmt: skip
        yield GaugeMetricFamily("edgeportal_rollup_dirty_hours", "Hours waiting for their rollup",
                                value=RollupDirtyHour.objects.count())  # fmt: skip
        yield GaugeMetricFamily("edgeportal_alerts_open", "Open alerts",
                                value=Alert.objects.filter(status=AlertStatus.OPEN).count())  # fmt: skip
        depth = _queue_depth()
        if depth is not None:
            family = GaugeMetricFamily("edgeportal_celery_queue_depth", "Tasks waiting in the broker", labels=["queue"])
            family.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], depth)
            yield family


def _queue_depth() -> int | None:
    """Celery's Redis queue is a list named after the queue; None without a Redis broker (tasks run in process)."""
    url = settings.CELERY_BROKER_URL
    if not url or not url.startswith(("redis://", "rediss://")):
        return None
    try:
        return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).llen(
            settings.CELERY_TASK_DEFAULT_QUEUE
        )
    except redis.RedisError:
        return None  # the series disappears: Prometheus' `absent()` alerts on that


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)


@method_decorator(login_not_required, name="dispatch")
class MetricsView(APIView):
    """The scrape endpoint: a Bearer key with scope `read`, or a client address in METRICS_ALLOWED_IPS."""

    schema = None  # another protocol's wire format (docs/protocols/), not part of the OpenAPI contract

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = []

    def get(self, request):
        if request.auth is None:
            if not _address_allowed(request.META.get("REMOTE_ADDR", "")):
                raise NotAuthenticated("a Bearer key with scope read, or an address in METRICS_ALLOWED_IPS")
        elif not request.auth.has_scope(ApiKeyScope.READ):
            raise PermissionDenied("this key has no read scope")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PortalCollector())
        return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
