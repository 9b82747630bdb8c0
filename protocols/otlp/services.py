"""OTLP metrics into session summaries through the ingest service: one per device × stack × export interval.

A cumulative point is differenced against the stream's previous point (protocols.models.OtlpStreamPoint, updated
in the same transaction as the sessions); a delta point is its own interval. The event id is a UUIDv5 of
(device, stack, point time), so an exporter's retry of an export is a duplicate, not a second session.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from ..ingest_bridge import ApiKey, IngestError, session_batch_ingest
from ..models import OtlpStreamPoint
from . import conventions as c
from .histograms import explicit_subtract, explicit_to_portal, exponential_subtract, exponential_to_portal

EVENT_NAMESPACE = uuid.UUID("2f1e6a4e-8c1b-5d0e-9a57-0b7c4f3e2d19")
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


@dataclass
class _Session:
    device: dict
    stack: tuple
    end_ns: int
    start_ns: int | None = None
    inferences: int | None = None
    errors: int = 0
    histogram: object = None
    accelerated: float | None = None
    peak_rss_mb: float | None = None
    points: int = 0


@dataclass
class OtlpResult:
    """partial_success of the response: points not stored and why (the first few reasons)."""

    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0

    def reject(self, points: int, reason: str) -> None:
        self.rejected += points
        if len(self.reasons) < 5 and reason not in self.reasons:
            self.reasons.append(reason)


def _stream_key(uid: str, name: str, attrs: dict) -> str:
    return hashlib.sha256(json.dumps([uid, name, sorted(attrs.items())], default=str).encode()).hexdigest()


def _point_state(kind: str, point) -> dict:
    if kind == "exponential_histogram":
        buckets = {point.positive.offset + i: n for i, n in enumerate(point.positive.bucket_counts) if n}
        return {"scale": point.scale, "zero": point.zero_count, "buckets": buckets}
    if kind == "histogram":
        return {"bounds": list(point.explicit_bounds), "counts": list(point.bucket_counts)}
    return {"value": point.as_int if point.WhichOneof("value") == "as_int" else point.as_double}


def _delta(kind: str, current: dict, previous: dict | None) -> dict:
    if previous is None:
        return current
    if kind == "exponential_histogram":
        previous = {**previous, "buckets": {int(k): v for k, v in previous["buckets"].items()}}
        return exponential_subtract(current, previous) or current
    if kind == "histogram":
        return explicit_subtract(current, previous) or current
    return {"value": current["value"] - previous["value"]} if current["value"] >= previous["value"] else current


def _points(request, result: OtlpResult):
    """(device, metric name, kind, unit, temporality, point, attrs) of every point of a known metric."""
    for resource_metrics in request.resource_metrics:
        resource = c.attributes(resource_metrics.resource.attributes)
        device = c.device_of(resource)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if metric.name not in c.KNOWN or kind is None:
                    continue  # other metrics of the app: not ours to store, not an error
                data = getattr(metric, kind)
                if device is None:
                    result.reject(len(data.data_points), "resource lacks device.id or device.model.identifier")
                    continue
                temporality = getattr(data, "aggregation_temporality", None)
                for point in data.data_points:
                    yield device, metric.name, kind, metric.unit, temporality, point, c.attributes(point.attributes)


def _session_add(session: _Session, name: str, kind: str, unit: str, state: dict, point) -> str | None:
    """Adds one point's delta to its session; the reason it is rejected, or None."""
    if name == c.DURATION:
        if kind not in ("histogram", "exponential_histogram") or unit not in c.TO_MS:
            return f"{name} must be a histogram in ms, s, us or ns"
        if kind == "exponential_histogram":
            if point.negative.bucket_counts and any(point.negative.bucket_counts):
                return f"{name} has negative durations"
            histogram = exponential_to_portal(scale=state["scale"], zero_count=state["zero"],
                                              buckets=state["buckets"], to_ms=c.TO_MS[unit])  # fmt: skip
        else:
            histogram = explicit_to_portal(
                bounds=state["bounds"], counts=state["counts"], to_ms=c.TO_MS[unit],
                minimum=point.min if point.HasField("min") else None,
                maximum=point.max if point.HasField("max") else None,
            )  # fmt: skip
        session.histogram = histogram
    elif name in (c.INFERENCES, c.ERRORS):
        value = state["value"]
        if kind != "sum" or value < 0 or value != int(value):
            return f"{name} must be a sum of whole, non-negative counts"
        if name == c.INFERENCES:
            session.inferences = int(value)
        else:
            session.errors = int(value)
    elif name == c.ACCELERATED:
        if kind != "gauge" or not 0 <= state["value"] <= 1:
            return f"{name} must be a gauge within 0..1"
        session.accelerated = float(state["value"])
    elif name == c.PEAK_RSS:
        if kind != "gauge" or unit not in c.TO_MB or state["value"] < 0:
            return f"{name} must be a non-negative gauge in By, KiBy or MiBy"
        session.peak_rss_mb = float(state["value"]) * c.TO_MB[unit]
    return None


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()


def _event(session: _Session) -> dict:
    uid = session.device["uid"]
    event_id = uuid.uuid5(EVENT_NAMESPACE, f"{uid}|{'|'.join(session.stack)}|{session.end_ns}")
    start_ns = min(session.start_ns if session.start_ns is not None else session.end_ns, session.end_ns)
    histogram = session.histogram if session.histogram is not None and session.histogram.count else None
    inferences = session.inferences if session.inferences is not None else (histogram.count if histogram else 0)
    return {
        "type": "session", "event_id": str(event_id), "session_id": f"otlp-{event_id.hex}",
        "started_at": _iso(start_ns), "duration_s": (session.end_ns - start_ns) / 1e9,
        **dict(zip(c.STACK, session.stack, strict=True)),
        "inferences": inferences, "errors": session.errors,
        "latency_histogram": histogram.to_wire() if histogram else None,
        "accelerated_fraction": session.accelerated, "peak_rss_mb": session.peak_rss_mb,
    }  # fmt: skip


def _sessions_ingest(*, api_key: ApiKey, sessions: list[_Session], result: OtlpResult, received_at) -> None:
    by_device: dict[str, list[_Session]] = {}
    for session in sessions:
        # An interval without inferences (a cumulative export of an idle app) is no session: nothing ran.
        ran = session.inferences or (session.histogram is not None and session.histogram.count)
        if session.points and ran:
            by_device.setdefault(session.device["uid"], []).append(session)
    size = settings.INGEST_MAX_EVENTS
    for group in by_device.values():
        for offset in range(0, len(group), size):
            chunk = group[offset : offset + size]
            body = json.dumps({"device": chunk[0].device, "events": [_event(s) for s in chunk]}).encode()
            try:
                ingested = session_batch_ingest(api_key=api_key, body=body, content_encoding=None,
                                                received_at=received_at)  # fmt: skip
            except IngestError as error:
                if error.status == 403:  # a device key posting for another device: the whole request is refused
                    raise
                result.reject(sum(s.points for s in chunk), error.error)
                continue
            result.accepted += ingested.accepted
            result.duplicates += ingested.duplicates
            for item in ingested.rejected:
                reason = "; ".join(f"{name}: {' '.join(map(str, why))}" for name, why in item["errors"].items())
                result.reject(chunk[item["index"]].points, reason)


def otlp_metrics_ingest(*, api_key: ApiKey, request, received_at: datetime) -> OtlpResult:
    """Stores an ExportMetricsServiceRequest's sessions; rejected points are counted in the result, not raised."""
    result = OtlpResult()
    valid = []
    for device, name, kind, unit, temporality, point, attrs in _points(request, result):
        stack = tuple(str(attrs.get(f"edge.{part}") or "") for part in c.STACK)
        if not all(stack):
            result.reject(1, f"{name} point lacks edge.{{{','.join(c.STACK)}}} attributes")
            continue
        stream = _stream_key(device["uid"], name, attrs) if temporality == CUMULATIVE else None
        valid.append((device, name, kind, unit, point, stack, stream))
    with transaction.atomic():
        held = {
            row.stream: row
            for row in OtlpStreamPoint.objects.select_for_update().filter(stream__in={v[-1] for v in valid if v[-1]})
        }
        sessions: dict[tuple, _Session] = {}
        for device, name, kind, unit, point, stack, stream in valid:
            state, start_ns = _point_state(kind, point), point.start_time_unix_nano or None
            if stream is not None:
                previous = held.get(stream)
                if previous is not None and previous.start_time_unix_nano == point.start_time_unix_nano:
                    if point.time_unix_nano <= previous.time_unix_nano:
                        continue  # a resent or late export: its interval is stored already
                    delta, start_ns = _delta(kind, state, previous.state), previous.time_unix_nano
                else:  # the stream's first point, or its process restarted (a new start time)
                    delta = state
                held[stream] = OtlpStreamPoint(stream=stream, start_time_unix_nano=point.start_time_unix_nano,
                                               time_unix_nano=point.time_unix_nano, state=state)  # fmt: skip
            else:
                delta = state
            session = sessions.setdefault((device["uid"], stack, point.time_unix_nano),
                                          _Session(device, stack, point.time_unix_nano))  # fmt: skip
            if reason := _session_add(session, name, kind, unit, delta, point):
                result.reject(1, reason)
                continue
            session.points += 1
            if start_ns is not None and kind != "gauge":
                session.start_ns = start_ns if session.start_ns is None else min(session.start_ns, start_ns)
        changed = [row for row in held.values() if row.pk is None]
        OtlpStreamPoint.objects.bulk_create(
            changed, update_conflicts=True, unique_fields=["stream"],
            update_fields=["start_time_unix_nano", "time_unix_nano", "state", "updated_at"],
        )  # fmt: skip
        _sessions_ingest(api_key=api_key, sessions=list(sessions.values()), result=result, received_at=received_at)
    return result
