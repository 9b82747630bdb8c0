"""mqtt_ingest against the real Mosquitto: the SDK's MQTT transport end to end, and a consumer killed mid-stream."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edgeportal_client.mqtt import mqtt_client
from telemetry.models import InferenceSession
from tests.conftest import MQTT_BROKER_URL, ROOT, database_url_for_test_db
from tests.telemetry.ingest_factories import batch, session

# The consumer runs in another process: it needs a database server both can reach (not SQLite in memory).
pytestmark = [pytest.mark.mqtt, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DEVICE = {"uid": "pixel8-mqtt-1", "model": "google-pixel-8", "os_version": "Android 15", "app_version": "3.2.1"}


@pytest.fixture
def consumer(django_db_blocker, tmp_path):
    """Starts `manage.py mqtt_ingest` on the test database; returns start() and kill(), cleans its session up."""
    client_id = f"ep-test-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_test_db(),
            "DJANGO_SETTINGS_MODULE": "edgeportal.settings",
        }
    processes = []

    def start():
        log = open(tmp_path / f"consumer-{len(processes)}.log", "w")
        process = subprocess.Popen([sys.executable, "manage.py", "mqtt_ingest", "--broker", MQTT_BROKER_URL,
                                    "--client-id", client_id, "--session-expiry", "120"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        processes.append(process)
        deadline = time.monotonic() + 30
        while "subscribing" not in (tmp_path / f"consumer-{len(processes) - 1}.log").read_text():
            assert process.poll() is None and time.monotonic() < deadline, "mqtt_ingest did not connect"
            time.sleep(0.1)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    cleanup = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    cleanup.connect("127.0.0.1", 1883, clean_start=True)  # drops the broker's session of the test consumer
    cleanup.disconnect()


def test_the_sdk_delivers_over_mqtt_and_reads_the_portals_answer(consumer, ingest_key, catalog):
    consumer()
    client = mqtt_client(MQTT_BROKER_URL, ingest_key[1], DEVICE, timeout=10)
    for _ in range(3):
        client.record(session())

    result = client.flush()
    client.close()

    assert (result.sent, result.accepted, result.duplicates, result.last_error) == (3, 3, 0, None)
    assert InferenceSession.objects.filter(device__uid="pixel8-mqtt-1").count() == 3


def test_a_device_key_for_another_device_gets_403_on_its_acks_topic(consumer, make_api_key, catalog):
    consumer()
    raw_key = make_api_key(scopes=["ingest"], device_uid="someone-else")[1]
    client = mqtt_client(MQTT_BROKER_URL, raw_key, DEVICE, timeout=10)
    client.record(session())

    result = client.flush()
    client.close()

    assert result.last_error.startswith("HTTP 403") and result.remaining == 1
    assert InferenceSession.objects.count() == 0


def test_a_consumer_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(consumer, ingest_key, catalog):
    process = consumer()  # its persistent session now exists at the broker
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [("authorization", f"Bearer {ingest_key[1]}")]
    batches = [batch([session() for _ in range(50)], uid=f"pixel8-kill-{i % 4}") for i in range(60)]
    for body in batches:
        info = publisher.publish(f"edgeportal/{body['device']['uid']}/events", json.dumps(body), qos=1,
                                 properties=properties)  # fmt: skip
        info.wait_for_publish(10)
    deadline = time.monotonic() + 60
    while InferenceSession.objects.count() < 500:  # some stored, most not yet
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = InferenceSession.objects.count()
    consumer()  # the same client id: the broker redelivers what was not acknowledged

    deadline = time.monotonic() + 120
    while InferenceSession.objects.count() < 3000 and time.monotonic() < deadline:
        time.sleep(0.2)
    publisher.loop_stop()

    assert killed_at < 3000
    assert InferenceSession.objects.count() == 3000
    sent = {uuid.UUID(event["event_id"]) for body in batches for event in body["events"]}
    assert set(InferenceSession.objects.values_list("event_id", flat=True)) == sent
