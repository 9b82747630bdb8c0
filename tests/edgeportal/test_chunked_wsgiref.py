"""A chunked body on a server that leaves the framing in place (wsgiref, runserver): a clear 411, never a 500."""

import json
import socket
from urllib.parse import urlparse

import pytest

from core.local_server import local_wsgi_server


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_on_wsgiref_is_a_411_in_the_error_shape():
    with local_wsgi_server(name="chunked-411") as url:
        parsed = urlparse(url)
        # One write of the whole request: the server answers before reading the body, so a client still sending
        # chunks would race its close (a broken pipe on the client, not what this test is about).
        request = (
            b"PATCH /api/v1/telemetry/crash-groups/1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n3\r\na=b\r\n0\r\n\r\n"
        )
        with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
            sock.sendall(request)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"411", raw[:300]
    assert json.loads(body) == {"error": "length_required", "detail": "this server needs a Content-Length"}
