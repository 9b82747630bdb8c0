"""The real OpenTelemetry SDK and its OTLP/HTTP exporter against a live server: counts exact, quantiles bounded."""

import pytest

from edgeportal_client.histogram import LatencyHistogram
from protocols.models import OtlpStreamPoint
from telemetry.models import Device, InferenceSession
from tests.protocols.otel_factories import DeviceApp, latencies

pytestmark = pytest.mark.django_db(transaction=True)


def exact(samples: list[float], q: float) -> float:
    """The portal's quantile definition: the sample at rank floor(q·(n−1))."""
    return sorted(samples)[int(q * (len(samples) - 1))]


@pytest.fixture
def raw_key(ingest_key, catalog):
    return ingest_key[1]


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_delta_export_becomes_one_session_with_quantiles_within_2_percent(live_server, raw_key, gzip):
    app = DeviceApp(url=live_server.url, raw_key=raw_key, gzip=gzip)
    samples = latencies(5000)
    app.run(samples, errors=3)
    app.export()

    session = InferenceSession.objects.select_related("delegate", "model_version").get()
    assert (session.inferences, session.errors) == (5000, 3)
    assert (session.delegate.slug, session.model_version.version) == ("gpu", "1.4.0")
    assert session.accelerated_fraction == 0.97 and session.peak_rss_mb == 212.0
    histogram = LatencyHistogram.from_wire(session.latency_histogram)
    assert histogram.count == 5000
    for q in (0.5, 0.9, 0.95, 0.99):
        assert histogram.quantile(q) == pytest.approx(exact(samples, q), rel=0.02)
    device = Device.objects.get()
    assert (device.uid, device.os_version, device.app_version) == ("pixel8-000042", "Android 15", "3.2.1")
    app.shutdown()


def test_cumulative_exports_are_differenced_into_one_session_per_interval(live_server, raw_key):
    app = DeviceApp(url=live_server.url, raw_key=raw_key, delta=False)
    first, second = latencies(3000, seed=1), latencies(2000, seed=2)
    app.run(first, errors=1)
    app.export()
    app.run(second, errors=4)
    app.export()
    app.export()  # nothing ran since: no third session

    sessions = list(InferenceSession.objects.order_by("started_at"))
    assert [(s.inferences, s.errors) for s in sessions] == [(3000, 1), (2000, 4)]
    assert sessions[1].started_at >= sessions[0].started_at
    second_histogram = LatencyHistogram.from_wire(sessions[1].latency_histogram)
    assert second_histogram.count == 2000
    assert second_histogram.quantile(0.95) == pytest.approx(exact(second, 0.95), rel=0.02)
    assert OtlpStreamPoint.objects.filter(state__scale__gte=5).exists()  # the bound's precondition held
    app.shutdown()


def test_explicit_bucket_histograms_read_back_within_their_bucket(live_server, raw_key):
    app = DeviceApp(url=live_server.url, raw_key=raw_key, exponential=False)
    samples = latencies(1000)
    app.run(samples)
    app.export()

    histogram = LatencyHistogram.from_wire(InferenceSession.objects.get().latency_histogram)
    p50 = exact(samples, 0.5)  # between the SDK's default bounds 10 and 25 ms
    assert histogram.count == 1000
    assert 10 / 1.0101 <= histogram.quantile(0.5) <= 25 * 1.0101 and 10 < p50 <= 25
    app.shutdown()
