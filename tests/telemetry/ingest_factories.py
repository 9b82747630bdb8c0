"""Ingest test helpers: SDK-built batches (the real client payloads) and a poster for /api/v1/ingest/."""

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from edgeportal_client.events import crash_event, session_event
from edgeportal_client.histogram import LatencyHistogram

INGEST_URL = "/api/v1/ingest/"
IDENTITY = {"model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite", "runtime_version": "2.16.1",
            "delegate": "gpu"}  # fmt: skip


def now() -> datetime:
    return datetime.now(UTC)


def session(*, at: datetime | None = None, session_id: str | None = None, samples=None, **overrides) -> dict[str, Any]:
    """A session event built by the SDK, with a ~20-bucket histogram."""
    histogram = LatencyHistogram.from_samples([10.0 + (i % 20) * 0.25 for i in range(200)])
    event = session_event(
        **{**IDENTITY, **{k: v for k, v in overrides.items() if k in IDENTITY}},
        session_id=session_id or str(uuid.uuid4()), started_at=at or now() - timedelta(minutes=10),
        duration_s=600.0, inferences=200 + len(samples or []), errors=1, histogram=histogram,
        latencies_ms=samples, include_raw_samples=bool(samples),
        accelerated_fraction=0.97, fallback_ops=["RESIZE_BILINEAR"], peak_rss_mb=212.5, thermal_state="nominal",
    )  # fmt: skip
    event.update({k: v for k, v in overrides.items() if k not in IDENTITY})
    return event


def crash(*, at: datetime | None = None, session_id: str | None = None, frames=None, **overrides) -> dict[str, Any]:
    """A native crash event built by the SDK."""
    frames = frames if frames is not None else [
        {"function": "tflite::gpu::cl::InferenceContext::Run", "module": "libtensorflowlite_gpu_delegate.so",
         "offset": "0x1a2b40", "in_app": False},
        {"function": "com.acme.vision.Detector.run", "module": "libacme_vision.so", "offset": "0x4410", "in_app": True},
    ]  # fmt: skip
    event = crash_event(
        **{**IDENTITY, **{k: v for k, v in overrides.items() if k in IDENTITY}},
        session_id=session_id or str(uuid.uuid4()), occurred_at=at or now() - timedelta(minutes=5), kind="native",
        signal="SIGSEGV", message="Fatal signal 11 in gpu delegate", frames=frames,
    )  # fmt: skip
    event.update({k: v for k, v in overrides.items() if k not in IDENTITY})
    return event


def batch(events: list[dict[str, Any]], *, uid: str = "pixel8-000042", sent_at: datetime | None = None,
          device_model: str = "google-pixel-8", app_version: str = "3.2.1") -> dict[str, Any]:  # fmt: skip
    return {
        "device": {"uid": uid, "model": device_model, "os_version": "Android 15", "app_version": app_version,
                   "firmware": "AP4A.250105.002"},
        "sent_at": (sent_at or now()).isoformat().replace("+00:00", "Z"),
        "events": events,
    }  # fmt: skip


def post(client, raw_key: str, payload: Any, *, gzipped: bool = False, content_type: str = "application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    extra = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
    if gzipped:
        body = gzip.compress(body)
        extra["HTTP_CONTENT_ENCODING"] = "gzip"
    return client.generic("POST", INGEST_URL, body, content_type=content_type, **extra)
