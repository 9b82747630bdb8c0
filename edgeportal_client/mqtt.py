"""MQTT transport for the SDK: the same queue, batching and retries as HTTP, over an MQTT 5 broker.

    from edgeportal_client.mqtt import mqtt_client
    client = mqtt_client("mqtt://broker.example:1883", api_key, device, queue_dir=Path("/data/edgeportal-queue"))
    client.record(session_event(...)); client.flush()

`MqttSession` stands in for the `requests.Session` of EdgePortalClient: each batch is published (QoS 1) to
`edgeportal/<uid>/events` with the key in the `authorization` user property and a correlation id, and the
portal's answer comes back on `edgeportal/<uid>/acks` with the HTTP status and body. No answer within the
timeout is a network error: the batch stays queued and is resent (event ids make the resend a duplicate).
Needs paho-mqtt (pip install paho-mqtt); the HTTP-only SDK does not.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeportal_client.client import EdgePortalClient

UNUSED_BASE_URL = "http://mqtt.invalid"  # EdgePortalClient wants a URL; over MQTT the topic replaces it


class MqttResponse:
    """The part of requests.Response that EdgePortalClient reads."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.text = body.decode("utf-8", "replace")
        self.headers: dict[str, str] = {}

    def json(self) -> Any:
        return json.loads(self.text)


class MqttSession:
    """A `requests.Session`-shaped publisher: post() publishes a batch and waits for its answer."""

    def __init__(self, broker_url: str, api_key: str, device_uid: str, *, client_id: str | None = None) -> None:
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker_url must be mqtt://host:port or mqtts://..., got {broker_url!r}")
        self._authorization = f"Bearer {api_key}"
        self._events, self._acks = f"edgeportal/{device_uid}/events", f"edgeportal/{device_uid}/acks"
        self._waiting: dict[bytes, list] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                   client_id=client_id or f"edgeportal-device-{device_uid}")  # fmt: skip
        if url.username:
            self._client.username_pw_set(unquote(url.username), unquote(url.password or ""))
        if url.scheme == "mqtts":
            self._client.tls_set()
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect_async(url.hostname or "127.0.0.1", url.port or (8883 if url.scheme == "mqtts" else 1883))
        self._client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe(self._acks, qos=1)

    def _on_message(self, client, userdata, message) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        status = dict(getattr(message.properties, "UserProperty", None) or []).get("status", "0")
        with self._lock:
            slot = self._waiting.get(bytes(correlation or b""))
        if slot is not None:
            slot[1] = MqttResponse(int(status) if status.isdigit() else 0, message.payload)
            slot[0].set()

    def post(self, url: str, *, data: bytes, headers: Mapping[str, str], timeout: float, **_: Any) -> MqttResponse:
        if not self._subscribed.wait(timeout):
            raise requests.ConnectionError(f"MQTT broker not reachable (no subscription on {self._acks})")
        correlation = uuid.uuid4().bytes
        slot: list = [threading.Event(), None]
        with self._lock:
            self._waiting[correlation] = slot
        try:
            properties = Properties(PacketTypes.PUBLISH)
            properties.CorrelationData = correlation
            properties.ResponseTopic = self._acks
            properties.UserProperty = [("authorization", self._authorization)]
            if headers.get("Content-Encoding"):
                properties.UserProperty.append(("content-encoding", headers["Content-Encoding"]))
            info = self._client.publish(self._events, data, qos=1, properties=properties)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as error:  # paho: not connected, or the message was not queued
                raise requests.ConnectionError(f"MQTT publish failed: {error}") from None
            if not info.is_published() or not slot[0].wait(timeout):
                raise requests.Timeout(f"no answer on {self._acks} within {timeout} s")
            return slot[1]
        finally:
            with self._lock:
                self._waiting.pop(correlation, None)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def mqtt_client(broker_url: str, api_key: str, device: Mapping[str, Any], *, queue_dir: Path | str | None = None,
                **options: Any) -> EdgePortalClient:  # fmt: skip
    """An EdgePortalClient (same queue, batching and retries) that delivers over MQTT; close() disconnects."""
    session = MqttSession(broker_url, api_key, str(device["uid"]))
    client = EdgePortalClient(UNUSED_BASE_URL, api_key, device, queue_dir=queue_dir, session=session, **options)
    client._owns_session = True  # the MQTT connection is ours to close with the client
    return client
