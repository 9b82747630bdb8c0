"""The real OpenTelemetry SDK instrumenting a device app, exporting with its OTLP/HTTP exporter (or in memory)."""

import random

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from opentelemetry.sdk.resources import Resource

RESOURCE = {"device.id": "pixel8-000042", "device.model.identifier": "google-pixel-8", "os.name": "Android",
            "os.version": "15", "service.name": "edgeapp", "service.version": "3.2.1"}  # fmt: skip
STACK = {"edge.model": "yolov8n", "edge.model_version": "1.4.0", "edge.runtime": "tflite",
         "edge.runtime_version": "2.16.1", "edge.delegate": "gpu"}  # fmt: skip


def latencies(n: int, seed: int = 3) -> list[float]:
    """Inference latencies of a GPU detector: lognormal around 14 ms, a slow tail."""
    rng = random.Random(seed)
    return [min(max(rng.lognormvariate(2.65, 0.25), 6.0), 60.0) for _ in range(n)]


class DeviceApp:
    """A device app's metrics: inference duration histogram, inference and error counters, two gauges."""

    def __init__(self, *, url: str | None = None, raw_key: str | None = None, delta: bool = True,
                 exponential: bool = True, resource: dict | None = None, gzip: bool = False):  # fmt: skip
        temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
        preferred = {Histogram: temporality, Counter: temporality}
        aggregation = {Histogram: ExponentialBucketHistogramAggregation()} if exponential else {}
        if url is None:
            self.reader = InMemoryMetricReader(preferred_temporality=preferred, preferred_aggregation=aggregation)
        else:
            exporter = OTLPMetricExporter(
                endpoint=f"{url}/v1/metrics", headers={"Authorization": f"Bearer {raw_key}"},
                preferred_temporality=preferred, preferred_aggregation=aggregation,
                compression=Compression.Gzip if gzip else Compression.NoCompression,
            )  # fmt: skip
            self.reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        self.provider = MeterProvider(resource=Resource.create(resource or RESOURCE), metric_readers=[self.reader])
        meter = self.provider.get_meter("edgeapp.inference")
        self.duration = meter.create_histogram("edge.inference.duration", unit="ms")
        self.inferences = meter.create_counter("edge.inference.count")
        self.errors = meter.create_counter("edge.inference.errors")
        self.accelerated = meter.create_gauge("edge.inference.accelerated_fraction")
        self.peak_rss = meter.create_gauge("edge.memory.peak_rss", unit="By")

    def run(self, samples: list[float], *, errors: int = 0, stack: dict | None = None) -> None:
        attrs = stack or STACK
        for value in samples:
            self.duration.record(value, attrs)
        self.inferences.add(len(samples), attrs)
        self.errors.add(errors, attrs)
        self.accelerated.set(0.97, attrs)
        self.peak_rss.set(212 * 2**20, attrs)

    def export(self) -> None:
        assert self.provider.force_flush(10_000)

    def request_body(self) -> bytes:
        """What the OTLP/HTTP exporter would post, from the in-memory reader (for resends and broken bodies)."""
        return encode_metrics(self.reader.get_metrics_data()).SerializeToString()

    def shutdown(self) -> None:
        self.provider.shutdown()
