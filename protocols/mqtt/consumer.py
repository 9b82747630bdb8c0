"""The MQTT 5 consumer: a persistent session on `edgeportal/+/events`, QoS 1, acknowledged only after commit.

Unacknowledged messages are redelivered by the broker when the consumer reconnects with the same client id, so a
consumer killed mid-batch loses nothing; a batch stored but not yet acknowledged comes back as duplicates (event
ids), never as second rows.
"""

import json
import logging
import time
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from django.db import close_old_connections
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from .handler import DatabaseUnavailable, message_handle

logger = logging.getLogger(__name__)

EVENTS_TOPIC = "edgeportal/+/events"
SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our subscription and unacknowledged messages this long
RECONNECT_DELAY_S = 5


def _user_properties(message) -> dict[str, str]:
    properties = getattr(message, "properties", None)
    return {str(k).lower(): str(v) for k, v in getattr(properties, "UserProperty", None) or []}


class MqttIngestConsumer:
    """Runs until stopped; `max_messages` (benchmarks, tests) stops after that many messages were handled."""

    def __init__(self, *, broker_url: str, client_id: str, shared_group: str | None = None,
                 max_messages: int | None = None, session_expiry_s: int = SESSION_EXPIRY_S) -> None:  # fmt: skip
        url = urlparse(broker_url)
        if url.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ValueError(f"broker URL must be mqtt://host:port or mqtts://..., got {broker_url!r}")
        self.host, self.port = url.hostname or "127.0.0.1", url.port or (8883 if url.scheme == "mqtts" else 1883)
        self.topic = f"$share/{shared_group}/{EVENTS_TOPIC}" if shared_group else EVENTS_TOPIC
        self.max_messages, self.handled, self.session_expiry_s = max_messages, 0, session_expiry_s
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  manual_ack=True)  # fmt: skip
        if url.username:
            self.client.username_pw_set(unquote(url.username), unquote(url.password or ""))
        if url.scheme == "mqtts":
            self.client.tls_set()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def run(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.session_expiry_s
        while True:
            try:
                self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
                self.client.loop_forever(retry_first_connection=True)
                if self.max_messages is not None and self.handled >= self.max_messages:
                    return
            except DatabaseUnavailable as error:  # not acknowledged: redelivered once we are back
                logger.warning("mqtt ingest: database unavailable, reconnecting in %s s: %s", RECONNECT_DELAY_S, error)
                self.client.disconnect()
            except OSError as error:
                logger.warning("mqtt ingest: broker unreachable, retrying in %s s: %s", RECONNECT_DELAY_S, error)
            time.sleep(RECONNECT_DELAY_S)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("mqtt ingest: broker refused the connection: %s", reason_code)
            return
        logger.info("mqtt ingest: connected (session present: %s), subscribing %s", flags.session_present, self.topic)
        client.subscribe(self.topic, options=SubscribeOptions(qos=1))

    def _on_message(self, client, userdata, message) -> None:
        close_old_connections()  # a long-running consumer: drop a connection the database closed meanwhile
        outcome = message_handle(topic=message.topic, payload=message.payload,
                                 user_properties=_user_properties(message))  # fmt: skip
        if outcome.uid is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.UserProperty = [("status", str(outcome.status))]
            properties.ContentType = "application/json"
            correlation = getattr(message.properties, "CorrelationData", None)
            if correlation:
                properties.CorrelationData = correlation
            client.publish(f"edgeportal/{outcome.uid}/acks", json.dumps(outcome.body), qos=1, properties=properties)
        client.ack(message.mid, message.qos)  # after the commit (and the answer): a crash before it redelivers
        self.handled += 1
        if self.max_messages is not None and self.handled >= self.max_messages:
            client.disconnect()
