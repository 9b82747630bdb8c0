"""SDK: assigned_version(model) caches for ttl_s and keeps the last answer while the portal is unreachable."""

import requests

from edgeportal_client.assignment import AssignmentClient
from edgeportal_client.client import EdgePortalClient


class FakeResponse:
    def __init__(self, status_code: int, body: dict | None = None):
        self.status_code, self._body, self.text = status_code, body, str(body)

    def json(self):
        if self._body is None:
            raise ValueError("no JSON")
        return self._body


class FakePortal:
    """A requests.Session stand-in: answers from a queue, records each request."""

    def __init__(self):
        self.answers, self.requests = [], []

    def get(self, url, params=None, headers=None, timeout=None):
        self.requests.append((url, params, headers))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self):
        pass


def answer(version: str, ttl_s: int = 600) -> FakeResponse:
    return FakeResponse(
        200, {"model": "yolov8n", "version": version, "rollout": 3, "arm": "candidate", "stage": 0, "ttl_s": ttl_s}
    )


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_the_answer_is_cached_for_its_ttl_then_asked_again():
    portal, clock = FakePortal(), Clock()
    portal.answers = [answer("1.5.0", ttl_s=600), answer("1.4.0")]
    client = AssignmentClient("https://portal.example", "ep_key", device_uid="pixel8-1", session=portal, clock=clock)
    assert client.assigned_version("yolov8n") == "1.5.0"
    clock.now += 599
    assert client.assigned_version("yolov8n") == "1.5.0" and len(portal.requests) == 1
    clock.now += 2
    assert client.assigned_version("yolov8n") == "1.4.0" and len(portal.requests) == 2
    url, params, headers = portal.requests[0]
    assert url == "https://portal.example/api/v1/rollouts/assignment/"
    assert params == {"model": "yolov8n", "device": "pixel8-1"} and headers["Authorization"] == "Bearer ep_key"


def test_offline_keeps_the_last_answer_however_old():
    portal, clock = FakePortal(), Clock()
    portal.answers = [answer("1.5.0", ttl_s=60), requests.ConnectionError("down"), FakeResponse(503), FakeResponse(429)]
    client = AssignmentClient("https://portal.example", "ep_key", session=portal, clock=clock)
    assert client.assigned_version("yolov8n") == "1.5.0"
    for _ in range(3):
        clock.now += 3600
        assert client.assigned_version("yolov8n") == "1.5.0"
    assert client.last_error == "HTTP 429: None"


def test_never_reached_is_none_so_the_app_keeps_its_bundled_version():
    portal = FakePortal()
    portal.answers = [requests.Timeout("slow")]
    assert AssignmentClient("https://portal.example", "k", session=portal).assigned_version("yolov8n") is None


def test_the_cache_survives_a_restart(tmp_path):
    portal, clock = FakePortal(), Clock()
    portal.answers = [answer("1.5.0", ttl_s=60)]
    path = tmp_path / "assignments.json"
    AssignmentClient("https://portal.example", "k", cache_path=path, session=portal, clock=clock).assigned_version(
        "yolov8n"
    )
    offline = FakePortal()
    offline.answers = [requests.ConnectionError("down")]
    clock.now += 10_000
    restarted = AssignmentClient("https://portal.example", "k", cache_path=path, session=offline, clock=clock)
    assert restarted.assigned_version("yolov8n") == "1.5.0"
    assert restarted.assignment("yolov8n")["arm"] == "candidate"


def test_the_ingest_client_asks_for_its_own_device():
    portal = FakePortal()
    portal.answers = [answer("1.5.0")]
    device = {"uid": "pixel8-000042", "model": "google-pixel-8"}
    with EdgePortalClient("https://portal.example", "ep_key", device, session=portal) as client:
        assert client.assigned_version("yolov8n") == "1.5.0"
    assert portal.requests[0][1] == {"model": "yolov8n", "device": "pixel8-000042"}
