"""Sentry payloads as the SDKs build them, and a poster for the envelope and store endpoints."""

import json
import uuid
from datetime import UTC, datetime

STACK_TAGS = {"edge.model": "yolov8n", "edge.model_version": "1.4.0", "edge.runtime": "tflite",
              "edge.runtime_version": "2.16.1", "edge.delegate": "gpu", "edge.device_model": "google-pixel-8",
              "edge.device_uid": "pixel8-000042"}  # fmt: skip


def sentry_event(**overrides) -> dict:
    """An event as sentry-sdk sends an uncaught native-looking exception (fields trimmed to what matters)."""
    event = {
        "event_id": uuid.uuid4().hex, "timestamp": datetime.now(UTC).isoformat(), "platform": "python",
        "level": "error", "release": "edgeapp@3.2.1", "environment": "field", "tags": dict(STACK_TAGS),
        "contexts": {"os": {"name": "Android", "version": "15"}},
        "exception": {"values": [{"type": "ValueError", "value": "bad tensor",
                                  "mechanism": {"type": "excepthook", "handled": False},
                                  "stacktrace": {"frames": [
                                      {"function": "main", "module": "app", "lineno": 3, "in_app": True},
                                      {"function": "run", "module": "app.detector", "lineno": 9, "in_app": True}]}}]},
    }  # fmt: skip
    event.update(overrides)
    return event


def session_update(**overrides) -> dict:
    now = datetime.now(UTC).isoformat()
    update = {"sid": str(uuid.uuid4()), "did": "pixel8-000042", "init": True, "started": now, "timestamp": now,
              "status": "exited", "errors": 0, "duration": 12.5,
              "attrs": {"release": "edgeapp@3.2.1", "environment": "field"}}  # fmt: skip
    update.update(overrides)
    return update


def envelope(*items: tuple[dict, bytes | dict], header: dict | None = None, lengths: bool = True) -> bytes:
    """An envelope of (item header, payload) pairs; payloads as dicts are JSON-encoded; `length` set unless told."""
    lines = [json.dumps(header if header is not None else {"sent_at": datetime.now(UTC).isoformat()}).encode()]
    for item_header, payload in items:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        lines.append(json.dumps({**item_header, **({"length": len(data)} if lengths else {})}).encode())
        lines.append(data)
    return b"\n".join(lines) + b"\n"


def post(client, project_id: int, raw_key: str | None, body: bytes, *, endpoint: str = "envelope",
         encoding: str | None = None, query: str = ""):  # fmt: skip
    extra = {}
    if raw_key is not None:
        extra["HTTP_X_SENTRY_AUTH"] = f"Sentry sentry_key={raw_key}, sentry_version=7, sentry_client=test/1.0"
    if encoding:
        extra["HTTP_CONTENT_ENCODING"] = encoding
    url = f"/api/{project_id}/{endpoint}/{query}"
    return client.generic("POST", url, body, content_type="application/x-sentry-envelope", **extra)
