"""A real Prometheus server (Debian's package) scrapes /metrics of a live test server with a read key."""

import socket
import subprocess
import time
from urllib.parse import urlparse

import pytest
import requests

from protocols.metrics_counters import COUNTERS_KEY, _client
from tests.conftest import PROMETHEUS
from tests.telemetry.ingest_factories import batch, now, post, session

pytestmark = [pytest.mark.prometheus, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_prometheus_scrapes_the_fleet_and_ingest_figures(live_server, client, ingest_key, make_api_key, catalog,
                                                          tmp_path):  # fmt: skip
    _client().delete(COUNTERS_KEY)
    post(client, ingest_key[1], batch([session(at=now()) for _ in range(4)]))
    read_key = make_api_key(scopes=["read"], name="prometheus")[1]
    target = urlparse(live_server.url).netloc
    (tmp_path / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: edgeportal
    metrics_path: /metrics
    authorization: {{type: Bearer, credentials: {read_key}}}
    static_configs: [{{targets: ["{target}"]}}]
""")
    port = _free_port()
    server = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        query = f"http://127.0.0.1:{port}/api/v1/query"
        deadline, result = time.monotonic() + 60, []
        while not result and time.monotonic() < deadline:
            time.sleep(1)
            try:
                result = requests.get(query, params={"query": 'edgeportal_ingest_events_total{outcome="accepted"}'},
                                      timeout=5).json()["data"]["result"]  # fmt: skip
            except requests.ConnectionError:
                continue
        up = requests.get(query, params={"query": "up"}, timeout=5).json()["data"]["result"]
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert [sample["value"][1] for sample in up] == ["1"]
    assert [(s["metric"]["transport"], s["value"][1]) for s in result] == [("http", "4")]
