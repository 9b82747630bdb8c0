"""Ingest throughput through each protocol adapter beside the HTTP API, in one run on one throwaway database.

    .venv/bin/python perf/protocols_bench.py [--workers 2] [--clients 4] [--seconds 8] [--server postgres://...]

Starts gunicorn (W sync workers) and, for MQTT, `manage.py mqtt_ingest` against the local Mosquitto, then for
a fixed time posts from C client threads:
  http 1000   API.md batches of 1,000 sessions (the HTTP figure)
  http 1      batches of one crash (what a Sentry envelope carries)
  sentry      envelopes of one event each, as sentry-sdk sends them (the crash path of http 1)
  otlp 200    OTLP/HTTP exports of 200 devices' delta metrics (a collector's batch): 200 sessions per request
  otlp 1      an export of one device (what an app's own exporter sends every interval)
  mqtt 1000   1,000-session batches published QoS 1, until the one consumer has stored them all
and prints events/s and the ratio to the HTTP figure with the same events per request. Rollup tasks queue in
Redis without a worker (the same for every adapter).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import requests
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeportal_client.events import crash_event, session_event, uuid7  # noqa: E402
from edgeportal_client.histogram import LatencyHistogram  # noqa: E402

VENV_BIN = Path(sys.executable).parent
SEED = """
from compat.models import *
from core.services import api_key_create
DeviceModel.objects.create(slug='google-pixel-8', vendor='google', name='Pixel 8', os_family='android', tier=1)
m = MLModel.objects.create(slug='yolov8n', name='YOLOv8n')
ModelVersion.objects.create(ml_model=m, version='1.4.0')
rt = Runtime.objects.create(slug='tflite', name='TFLite')
RuntimeVersion.objects.create(runtime=rt, version='2.16.1')
Delegate.objects.create(runtime=rt, slug='gpu', name='GPU', kind='gpu')
key, raw = api_key_create(name='bench', scopes=['ingest'])
print(key.pk, raw)
"""
STACK = {"model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite", "runtime_version": "2.16.1",
         "delegate": "gpu"}  # fmt: skip
HISTOGRAM = LatencyHistogram.from_samples([10.0 + (i % 20) * 0.25 for i in range(200)])


def _device(uid: str) -> dict:
    return {"uid": uid, "model": "google-pixel-8", "os_version": "Android 15", "app_version": "3.2.1"}


def http_sessions(n: int, uid: str) -> bytes:
    now = datetime.now(UTC)
    events = [session_event(**STACK, session_id=uuid.uuid4().hex, started_at=now - timedelta(minutes=10),
                            duration_s=600.0, inferences=200, errors=0, histogram=HISTOGRAM,
                            accelerated_fraction=0.97) for _ in range(n)]  # fmt: skip
    return gzip.compress(json.dumps({"device": _device(uid), "events": events}).encode())


def http_crash(uid: str) -> bytes:
    event = crash_event(**STACK, session_id=uuid.uuid4().hex, occurred_at=datetime.now(UTC), kind="exception",
                        exception_type="ValueError", message="bad tensor", frames=[
                            {"function": "run", "module": "app.detector", "offset": "app.py:9", "in_app": True}])  # fmt: skip
    return gzip.compress(json.dumps({"device": _device(uid), "events": [event]}).encode())


def sentry_envelope(uid: str) -> bytes:
    event_id = uuid7().hex
    event = {"event_id": event_id, "timestamp": datetime.now(UTC).isoformat(), "platform": "python",
             "level": "error", "release": "edgeapp@3.2.1", "user": {"id": uid},
             "tags": {**{f"edge.{k}": v for k, v in STACK.items()}, "edge.device_model": "google-pixel-8"},
             "exception": {"values": [{"type": "ValueError", "value": "bad tensor",
                                       "mechanism": {"type": "excepthook", "handled": False},
                                       "stacktrace": {"frames": [{"function": "run", "module": "app.detector",
                                                                  "lineno": 9, "in_app": True}]}}]}}  # fmt: skip
    payload = json.dumps(event).encode()
    header = json.dumps({"event_id": event_id, "sent_at": datetime.now(UTC).isoformat()}).encode()
    item = json.dumps({"type": "event", "length": len(payload)}).encode()
    return gzip.compress(header + b"\n" + item + b"\n" + payload + b"\n")


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def otlp_export(devices: int, tag: str) -> bytes:
    now = time.time_ns()
    request = ExportMetricsServiceRequest()
    attrs = [_kv(f"edge.{k}", v) for k, v in STACK.items()]
    for d in range(devices):
        resource_metrics = request.resource_metrics.add()
        resource_metrics.resource.attributes.extend([_kv("device.id", f"otlp-{tag}-{d}"),
                                                     _kv("device.model.identifier", "google-pixel-8")])  # fmt: skip
        metrics = resource_metrics.scope_metrics.add().metrics
        duration = metrics.add(name="edge.inference.duration", unit="ms")
        point = duration.exponential_histogram.data_points.add(start_time_unix_nano=now - 60 * 10**9,
                                                               time_unix_nano=now, count=200, scale=6)  # fmt: skip
        duration.exponential_histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        point.attributes.extend(attrs)
        point.positive.offset = 212
        point.positive.bucket_counts.extend([10] * 20)
        count = metrics.add(name="edge.inference.count")
        count.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        count.sum.is_monotonic = True
        sum_point = count.sum.data_points.add(start_time_unix_nano=now - 60 * 10**9, time_unix_nano=now, as_int=200)
        sum_point.attributes.extend(attrs)
    return gzip.compress(request.SerializeToString())


def phase(name: str, *, url: str, headers: dict, make, events_per_body: int, clients: int, seconds: float) -> float:
    """Posts bodies built by make(i) from `clients` threads for `seconds`; returns events/s stored (2xx)."""
    bodies = [make(i) for i in range(max(8, int(seconds * 2000 / events_per_body)))]
    done = [0] * clients
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))
    lock = threading.Lock()

    def client(slot: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            with lock:
                index = next(counter)
            if index >= len(bodies):
                return
            response = session.post(url, data=bodies[index], headers=headers, timeout=120)
            if response.status_code >= 300:
                raise SystemExit(f"{name}: HTTP {response.status_code}: {response.text[:300]}")
            done[slot] += events_per_body

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def mqtt_phase(*, db_url: str, env: dict, raw_key: str, batches: int) -> float:
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    consumer = subprocess.Popen([sys.executable, "manage.py", "mqtt_ingest", "--broker", "mqtt://127.0.0.1:1883",
                                 "--client-id", client_id, "--session-expiry", "60", "--max-messages",
                                 str(batches)], cwd=ROOT, env={**env, "LOG_LEVEL": "INFO"}, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    while "subscribing" not in (line := consumer.stderr.readline()):
        if not line and consumer.poll() is not None:
            raise SystemExit("mqtt_ingest exited before subscribing")
    threading.Thread(target=consumer.stderr.read, daemon=True).start()  # keeps the pipe from filling up
    bodies = [http_sessions(1000, f"mqtt-{i % 8}") for i in range(batches)]
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [("authorization", f"Bearer {raw_key}"), ("content-encoding", "gzip")]
    started = time.monotonic()
    for i, body in enumerate(bodies):
        publisher.publish(f"edgeportal/mqtt-{i % 8}/events", body, qos=1, properties=properties).wait_for_publish()
    consumer.wait(timeout=600)
    elapsed = time.monotonic() - started
    publisher.loop_stop()
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT count(*) FROM telemetry_inferencesession WHERE device_id IN "
                              "(SELECT id FROM telemetry_device WHERE uid LIKE 'mqtt-%%')").fetchone()[0]  # fmt: skip
    assert stored == batches * 1000, f"mqtt stored {stored} of {batches * 1000}"
    return stored / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args()
    db_name = f"ep_protocols_bench_{os.getpid()}"
    db_url = f"{args.server.rstrip('/')}/{db_name}"
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "bench-" + "x" * 60, "DEBUG": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "STATIC_MANIFEST": "0", "LOG_LEVEL": "WARNING",
           "INGEST_RATE": "1000000/min", "CELERY_BROKER_URL": args.redis, "REDIS_URL": args.redis,
           "CELERY_TASK_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}", "DB_CONN_MAX_AGE": "600"}  # fmt: skip
    with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    web = None
    try:
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, capture_output=True)
        seeded = subprocess.run([*manage, "shell", "-c", SEED], env=env, cwd=ROOT, check=True, capture_output=True,
                                text=True).stdout.split()  # fmt: skip
        key_id, raw_key = seeded[-2], seeded[-1]
        web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "edgeportal.wsgi:application", "-w", str(args.workers),
                                "-b", f"127.0.0.1:{args.port}", "--timeout", "120"], env=env, cwd=ROOT,
                               stderr=subprocess.DEVNULL)  # fmt: skip
        base = f"http://127.0.0.1:{args.port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        bearer = {"Authorization": f"Bearer {raw_key}", "Content-Encoding": "gzip"}
        json_headers = {**bearer, "Content-Type": "application/json"}
        sentry_headers = {"X-Sentry-Auth": f"Sentry sentry_key={raw_key}, sentry_version=7",
                          "Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"}  # fmt: skip
        otlp_headers = {**bearer, "Content-Type": "application/x-protobuf"}
        run = dict(clients=args.clients, seconds=args.seconds)
        phase("warm-up", url=f"{base}/api/v1/ingest/", headers=json_headers, make=lambda i: http_crash(f"w-{i}"),
              events_per_body=1, clients=2, seconds=2)  # fmt: skip
        figures = {
            "http 1000": phase("http 1000", url=f"{base}/api/v1/ingest/", headers=json_headers,
                               make=lambda i: http_sessions(1000, f"h-{i % 16}"), events_per_body=1000, **run),
            "http 1": phase("http 1", url=f"{base}/api/v1/ingest/", headers=json_headers,
                            make=lambda i: http_crash(f"c-{i % 16}"), events_per_body=1, **run),
            "sentry": phase("sentry", url=f"{base}/api/{key_id}/envelope/", headers=sentry_headers,
                            make=lambda i: sentry_envelope(f"s-{i % 16}"), events_per_body=1, **run),
            "otlp 200": phase("otlp 200", url=f"{base}/v1/metrics", headers=otlp_headers,
                              make=lambda i: otlp_export(200, f"a{i}"), events_per_body=200, **run),
            "otlp 1": phase("otlp 1", url=f"{base}/v1/metrics", headers=otlp_headers,
                            make=lambda i: otlp_export(1, f"b{i}"), events_per_body=1, **run),
        }  # fmt: skip
        figures["mqtt 1000"] = mqtt_phase(db_url=db_url, env=env, raw_key=raw_key, batches=int(args.seconds * 4))
        reference = {"http 1000": "http 1000", "http 1": "http 1", "sentry": "http 1", "otlp 200": "http 1000",
                     "otlp 1": "http 1", "mqtt 1000": "http 1000"}  # fmt: skip
        print(f"\n{'path':<11} {'events/s':>10}  vs HTTP with as many events per request")
        for name, rate in figures.items():
            ratio = rate / figures[reference[name]]
            print(f"{name:<11} {rate:>10,.0f}  {ratio:6.0%} of {reference[name]}")
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
        with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
