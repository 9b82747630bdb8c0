"""Counts what POST /api/v1/ingest/ answered, for /metrics, without touching the telemetry app's view."""

from collections import Counter

from .metrics_counters import ingest_count, rejection_reason

INGEST_PATH = "/api/v1/ingest/"


class IngestCountersMiddleware:
    """After the HTTP ingest view answers: accepted, duplicates and rejections (by field, or by status) counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path == INGEST_PATH and request.method == "POST":
            data = getattr(response, "data", None)
            if response.status_code == 202 and isinstance(data, dict):
                reasons = Counter(rejection_reason(item.get("errors") or {}) for item in data.get("rejected") or [])
                ingest_count(transport="http", accepted=data.get("accepted", 0),
                             duplicates=data.get("duplicates", 0), rejected=dict(reasons))  # fmt: skip
            elif response.status_code >= 400:
                ingest_count(transport="http", rejected={f"http_{response.status_code}": 1})
        return response
