"""The app as production serves it: a real gunicorn process from the repository root (gunicorn.conf.py)."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, database_url_for_test_db
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import INGEST_URL, batch, session

GUNICORN = Path(sys.executable).with_name("gunicorn")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_server(django_db_blocker, tmp_path):
    with django_db_blocker.unblock():
        db_url = database_url_for_test_db()
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "DEBUG": "1", "DATA_UPLOAD_MAX_MEMORY_SIZE": str(64 * 1024)}
    env.pop("CELERY_BROKER_URL", None)  # tasks in process: this test is about HTTP
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [str(GUNICORN), "edgeportal.wsgi:application", "-w", "1", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()}")
            time.sleep(0.2)
    yield port
    process.terminate()
    process.wait(timeout=15)
    log.close()


def _post_chunked(port: int, body: bytes, headers: dict, chunk: int = 1000):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    parts = (body[i : i + chunk] for i in range(0, len(body), chunk))
    connection.request("POST", INGEST_URL, body=parts, headers=headers, encode_chunked=True)
    response = connection.getresponse()
    return response, response.read()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_server_banner(gunicorn_server):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=10)
    connection.request("GET", "/healthz")
    response = connection.getresponse()

    assert response.status == 200
    assert response.getheader("Server") is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_chunked_batch_is_read_whole_and_stored(gunicorn_server, ingest_key):
    from telemetry.models import InferenceSession

    catalog_make()
    body = json.dumps(batch([session(), session()])).encode()
    headers = {"Authorization": f"Bearer {ingest_key[1]}", "Content-Type": "application/json"}

    response, content = _post_chunked(gunicorn_server, body, headers)

    assert response.status == 202, content
    assert json.loads(content)["accepted"] == 2
    assert InferenceSession.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_chunked_body_over_the_limit_is_a_413(gunicorn_server, ingest_key):
    body = b"x" * (64 * 1024 + 1)
    headers = {"Authorization": f"Bearer {ingest_key[1]}", "Content-Type": "application/json"}

    response, content = _post_chunked(gunicorn_server, body, headers, chunk=8192)

    assert response.status == 413
    assert json.loads(content)["error"] == "too_large"
