"""A real HTTP server on 127.0.0.1 that plays POST /api/v1/ingest/ for the SDK tests (no Django)."""

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DROP = "drop the connection without answering"
STORE_THEN_DROP = "store the events, then drop the connection (a lost 202)"
STALL = "answer nothing until the client has timed out"

Answer = tuple[int, dict[str, str], Any] | str


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw_body: bytes
    payload: dict[str, Any]

    @property
    def event_ids(self) -> list[str]:
        return [event["event_id"] for event in self.payload["events"]]


class FakeIngest:
    """Records every request (gunzipped) and answers from a script, then from ``policy``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer | Callable[[dict[str, Any]], Answer]] = []
        self.policy: Callable[[dict[str, Any]], Answer] = self.accept
        self.stored: dict[str, int] = {}  # event_id -> times stored (must never exceed 1)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.url = ""

    def respond(self, *answers: Answer | Callable[[dict[str, Any]], Answer]) -> None:
        self.script.extend(answers)

    def accept(self, payload: dict[str, Any], reject: dict[int, dict[str, Any]] | None = None) -> Answer:
        """Ingest-like 202: new event ids are stored, known ones are duplicates, ``reject`` by index."""
        reject = reject or {}
        accepted = duplicates = 0
        rejected = []
        for index, event in enumerate(payload["events"]):
            if index in reject:
                rejected.append({"index": index, "event_id": event["event_id"], "errors": reject[index]})
            elif event["event_id"] in self.stored:
                duplicates += 1
            else:
                self.stored[event["event_id"]] = self.stored.get(event["event_id"], 0) + 1
                accepted += 1
        return 202, {}, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}

    def next_answer(self, payload: dict[str, Any]) -> Answer:
        with self.lock:
            answer = self.script.pop(0) if self.script else self.policy
        return answer(payload) if callable(answer) else answer

    @property
    def all_sent_ids(self) -> list[str]:
        return [event_id for request in self.received for event_id in request.event_ids]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
        payload = json.loads(body)
        fake.received.append(Received(self.path, dict(self.headers.items()), raw, payload))
        answer = fake.next_answer(payload)
        if answer == STORE_THEN_DROP:
            fake.accept(payload)
            return
        if answer == DROP:
            return  # HTTP/1.0: returning without a status line closes the socket under the client
        if answer == STALL:
            fake.release.wait(5)
            return
        status, headers, content = answer
        data = json.dumps(content).encode() if content is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeIngest

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # writes to sockets the client already gave up on are expected in the timeout tests


@contextmanager
def running_fake_ingest() -> Iterator[FakeIngest]:
    """Serve a FakeIngest on 127.0.0.1 (port 0) in a thread for the duration of the block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeIngest()
    server.fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join()
