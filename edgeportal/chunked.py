"""WSGI middleware: a request body sent with `Transfer-Encoding: chunked` reaches Django whole, within a bound.

gunicorn de-chunks the body (and says so with `wsgi.input_terminated`) but has no length to put in
CONTENT_LENGTH; Django then reads `int(CONTENT_LENGTH or 0)` bytes, i.e. none, and a valid ingest batch was
answered 400 as an empty envelope: a device never retries a 400, so the data was lost. Here the body is read
up to the limit Django applies to any body, and handed on with its length; a longer one is a 413 without
reading further.
"""

import io
import json

REASONS = {411: "Length Required", 413: "Content Too Large"}


def _json_error(start_response, status: int, error: str, detail: str, *, close: bool = False):
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if close:  # gunicorn honours it (the unread rest of the body must not be parsed as a request); PEP 3333
        headers.append(("Connection", "close"))  # servers such as wsgiref refuse hop-by-hop headers outright
    start_response(f"{status} {REASONS[status]}", headers)
    return [body]


class ChunkedBodyMiddleware:
    def __init__(self, app, *, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked or environ.get("CONTENT_LENGTH"):
            return self.app(environ, start_response)
        if not environ.get("wsgi.input_terminated"):
            # A server that leaves the framing in place (wsgiref, runserver): reading would hang or misread.
            return _json_error(start_response, 411, "length_required", "this server needs a Content-Length")
        body = environ["wsgi.input"].read(self.max_bytes + 1)
        if len(body) > self.max_bytes:
            return _json_error(start_response, 413, "too_large", f"body is over {self.max_bytes} bytes", close=True)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
