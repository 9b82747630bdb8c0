"""A device app instrumented with the real sentry-sdk, unchanged: run as a subprocess by the Sentry tests.

python sentry_app.py <mode> ; DSN and the device uid come from the environment. Modes:
  clean     one app session that ends normally
  handled   breadcrumbs, then a handled exception, then the session ends normally
  uncaught  an uncaught exception ends the process (sentry's excepthook reports it, the session crashes)
"""

import os
import sys

import sentry_sdk

TAGS = {"edge.model": "yolov8n", "edge.model_version": "1.4.0", "edge.runtime": "tflite",
        "edge.runtime_version": "2.16.1", "edge.delegate": "gpu", "edge.device_model": "google-pixel-8"}  # fmt: skip


def detector_run(frame_count: int) -> None:
    raise ValueError(f"tensor shape mismatch after {frame_count} frames password=hunter2")


def main(mode: str) -> None:
    sentry_sdk.init(dsn=os.environ["SENTRY_DSN"], release=os.environ.get("RELEASE", "edgeapp@3.2.1"),
                    environment="field", shutdown_timeout=5)  # fmt: skip
    sentry_sdk.set_user({"id": os.environ["DEVICE_UID"]})
    for key, value in TAGS.items():
        sentry_sdk.set_tag(key, value)
    sentry_sdk.start_session()
    if mode == "handled":
        sentry_sdk.add_breadcrumb(category="camera", message="opened camera 0", level="info")
        sentry_sdk.add_breadcrumb(category="model", message="loaded yolov8n token=abc123secret", level="info")
        try:
            detector_run(42)
        except ValueError:
            sentry_sdk.capture_exception()
    elif mode == "uncaught":
        detector_run(7)
    sentry_sdk.end_session()
    sentry_sdk.flush()


if __name__ == "__main__":
    main(sys.argv[1])
