"""EdgePortal device SDK: build API.md events, queue them and deliver them to the ingest endpoint.

Usage::

    from pathlib import Path
    from edgeportal_client import EdgePortalClient, session_event

    device = {"uid": "pixel8-000042", "model": "google-pixel-8", "os_version": "Android 15", "app_version": "3.2.1"}
    with EdgePortalClient("https://portal.example", api_key, device, queue_dir=Path("/data/edgeportal-queue")) as client:
        client.record(session_event(model="yolov8n", model_version="1.4.0", runtime="tflite",
                                    runtime_version="2.16.1", delegate="gpu", session_id=session_id,
                                    started_at=started_at, duration_s=840.5, inferences=1200, errors=1,
                                    latencies_ms=latencies_ms, accelerated_fraction=0.97))
        result = client.flush()  # safe to call any time; undelivered events stay queued on disk
        version = client.assigned_version("yolov8n")  # the rollout's answer, cached for its ttl_s, kept offline
        if result.last_error:
            log.warning("ingest paused: %s (%d events queued)", result.last_error, result.remaining)
"""

from typing import TYPE_CHECKING, Any

from edgeportal_client.events import crash_event, session_event, uuid7
from edgeportal_client.histogram import GAMMA, LatencyHistogram

if TYPE_CHECKING:
    from edgeportal_client.assignment import AssignmentClient
    from edgeportal_client.client import EdgePortalClient, FlushResult

__all__ = [
    "GAMMA",
    "AssignmentClient",
    "EdgePortalClient",
    "FlushResult",
    "LatencyHistogram",
    "crash_event",
    "session_event",
    "uuid7",
]


def __getattr__(name: str) -> Any:
    # imported on first use so the server, which only needs the histogram, does not load requests
    if name in ("EdgePortalClient", "FlushResult"):
        from edgeportal_client import client

        return getattr(client, name)
    if name == "AssignmentClient":
        from edgeportal_client.assignment import AssignmentClient

        return AssignmentClient
    raise AttributeError(f"module 'edgeportal_client' has no attribute {name!r}")
