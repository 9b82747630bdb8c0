"""The project's own WSGI app on 127.0.0.1:<free port> in a thread: the simulators post through the real HTTP stack
(middleware, authentication, ingest views) without a separate server process."""

import contextlib
import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.db import connections


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 -- the stdlib's signature
        pass


@contextlib.contextmanager
def local_wsgi_server(*, name: str = "local-wsgi") -> Iterator[str]:
    """Serves the project's WSGI app (settings.WSGI_APPLICATION, as runserver does: its WSGI middleware included) on
    127.0.0.1:<free port> in a thread; yields its base URL."""
    from django.core.servers.basehttp import get_internal_wsgi_application

    server: WSGIServer = make_server("127.0.0.1", 0, get_internal_wsgi_application(), handler_class=_QuietHandler)

    def serve() -> None:
        try:
            server.serve_forever()
        finally:
            connections.close_all()  # this thread's connections, or the test database cannot be dropped

    thread = threading.Thread(target=serve, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
