"""The one place protocols/ reaches into telemetry (ingest service, KPI selectors, models) and API keys."""

from core.authentication import ApiKeyAuthentication, ApiKeyUser
from core.models import ApiKey, ApiKeyScope
from telemetry.api.throttling import DATABASE_RETRY_AFTER_S, IngestRateThrottle
from telemetry.ingest import service
from telemetry.ingest.crashes import secrets_scrub
from telemetry.ingest.service import IngestError, IngestResult
from telemetry.kpi.selectors import kpi_breakdown, kpis_get
from telemetry.models import Alert, AlertStatus, Device, RollupDirtyHour
from telemetry.tasks import rollup_hours_queue

__all__ = [
    "DATABASE_RETRY_AFTER_S",
    "Alert",
    "AlertStatus",
    "Device",
    "RollupDirtyHour",
    "kpi_breakdown",
    "kpis_get",
    "ApiKey",
    "ApiKeyAuthentication",
    "ApiKeyScope",
    "ApiKeyUser",
    "IngestError",
    "IngestRateThrottle",
    "IngestResult",
    "api_key_lookup",
    "secrets_scrub",
    "session_batch_ingest",
]


def session_batch_ingest(**kwargs) -> IngestResult:
    """The HTTP ingest service, then the rollups of the hours it turned dirty queued on commit, as the HTTP view does."""
    result = service.session_batch_ingest(**kwargs)
    rollup_hours_queue(hours=result.hours_to_roll_up, on_commit=True)
    return result


def api_key_lookup(raw_key: str) -> ApiKey:
    """The active key for a raw key, as Bearer authentication checks it; raises DRF's AuthenticationFailed."""
    return ApiKeyAuthentication()._lookup(raw_key)
