"""The one place protocols/ reaches into telemetry (ingest service, KPI selectors, models) and API keys.

telemetry/ is being restructured (the ingest service moves to telemetry/ingest/): re-point these imports here
and nothing else in protocols/ changes.
"""

from core.authentication import ApiKeyAuthentication, ApiKeyUser
from core.models import ApiKey, ApiKeyScope
from telemetry.api.ingest_views import DATABASE_RETRY_AFTER_S, IngestRateThrottle
from telemetry.crashes import secrets_scrub
from telemetry.models import Alert, AlertStatus, Device, RollupDirtyHour
from telemetry.selectors import kpi_breakdown, kpis_get
from telemetry.services import IngestError, IngestResult, session_batch_ingest

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


def api_key_lookup(raw_key: str) -> ApiKey:
    """The active key for a raw key, as Bearer authentication checks it; raises DRF's AuthenticationFailed."""
    return ApiKeyAuthentication()._lookup(raw_key)
