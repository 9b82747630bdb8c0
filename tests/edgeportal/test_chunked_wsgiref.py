"""A chunked body on a server that leaves the framing in place (wsgiref, runserver): a clear 411, never a 500."""

import http.client
import json
from urllib.parse import urlparse

import pytest

from core.local_server import local_wsgi_server


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_on_wsgiref_is_a_411_in_the_error_shape():
    with local_wsgi_server(name="chunked-411") as url:
        parsed = urlparse(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        connection.request("PATCH", "/api/v1/telemetry/crash-groups/1/", body=iter([b"a=", b"b"]),
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, encode_chunked=True)  # fmt: skip
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
    assert response.status == 411
    assert body == {"error": "length_required", "detail": "this server needs a Content-Length"}
