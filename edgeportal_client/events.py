"""Builders for the API.md ingest events (session and crash), each with a UUIDv7 ``event_id`` fixed at build time."""

from __future__ import annotations

import math
import numbers
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from edgeportal_client.histogram import LatencyHistogram

MAX_RAW_SAMPLES = 10_000  # API.md: latency_ms carries at most 10,000 samples
CRASH_KINDS = ("native", "exception", "oom", "watchdog")
FRAME_FIELDS = ("function", "module", "offset", "in_app")

_COUNTER_BITS = 42  # RFC 9562 §6.2 method 1: rand_a (12 bits) + the top 30 bits of rand_b
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1


class Uuid7Generator:
    """RFC 9562 UUIDv7 source, strictly increasing within this process even if the wall clock steps back."""

    def __init__(self, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        with self._lock:
            now_ms = self._clock_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # random start with the top bit clear leaves ~2^41 increments before the ms must roll over
                self._counter = int.from_bytes(os.urandom(6), "big") >> 7
            else:  # same millisecond, or the clock went back: keep counting on the last timestamp
                self._counter += 1
                if self._counter > _COUNTER_MAX:
                    self._last_ms += 1
                    self._counter = int.from_bytes(os.urandom(6), "big") >> 7
            timestamp_ms, counter = self._last_ms, self._counter
        tail = int.from_bytes(os.urandom(4), "big")
        value = (
            (timestamp_ms & 0xFFFF_FFFF_FFFF) << 80
            | 0x7 << 76  # version
            | (counter >> 30) << 64  # rand_a: counter high 12 bits
            | 0b10 << 62  # RFC variant
            | (counter & 0x3FFF_FFFF) << 32  # rand_b: counter low 30 bits, then 32 random bits
            | tail
        )
        return uuid.UUID(int=value)


uuid7 = Uuid7Generator()


def format_timestamp(value: datetime | str) -> str:
    """RFC 3339 UTC timestamp with a ``Z`` suffix, from an aware datetime or an ISO 8601 string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"timestamp must be a datetime or ISO 8601 string, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp must carry a timezone, got naive {value!r}")
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _slug(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _count(name: str, value: object) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _amount(name: str, value: object, *, upper: float = math.inf) -> float:
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= upper
    ):
        raise ValueError(f"{name} must be a number within [0, {upper}], got {value!r}")
    return float(value)


def _optional_amount(name: str, value: object, *, upper: float = math.inf) -> float | None:
    return None if value is None else _amount(name, value, upper=upper)


def _optional_text(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None, got {value!r}")
    return value


def session_event(
    *,
    model: str,
    model_version: str,
    runtime: str,
    runtime_version: str,
    delegate: str,
    session_id: str | uuid.UUID,
    started_at: datetime | str,
    duration_s: float,
    inferences: int,
    errors: int,
    latencies_ms: Sequence[float] | None = None,
    histogram: LatencyHistogram | None = None,
    include_raw_samples: bool = False,
    accelerated_fraction: float | None = None,
    fallback_ops: Iterable[str] = (),
    peak_rss_mb: float | None = None,
    thermal_state: str | None = None,
    energy_mj_per_inference: float | None = None,
) -> dict[str, Any]:
    """An API.md ``session`` event; ``latency_histogram`` is always present.

    ``latencies_ms`` (raw samples) and ``histogram`` (already aggregated samples) are both counted. With
    ``include_raw_samples`` the first 10,000 raw samples travel as ``latency_ms`` and only the rest go into
    ``latency_histogram``: the server merges the two, so no sample is ever counted twice.
    """
    samples = list(latencies_ms or ())
    for sample in samples:
        _amount("latencies_ms item", sample)
    raw = samples[:MAX_RAW_SAMPLES] if include_raw_samples else []
    latency_histogram = LatencyHistogram.from_samples(samples[len(raw) :])
    if histogram is not None:
        latency_histogram.merge(histogram)
    ops = [fallback_ops] if isinstance(fallback_ops, str) else list(fallback_ops)
    for op in ops:
        _slug("fallback_ops item", op)

    event: dict[str, Any] = {
        "type": "session",
        "event_id": str(uuid7()),
        "session_id": _slug("session_id", str(session_id) if isinstance(session_id, uuid.UUID) else session_id),
        "started_at": format_timestamp(started_at),
        "duration_s": _amount("duration_s", duration_s),
        "model": _slug("model", model),
        "model_version": _slug("model_version", model_version),
        "runtime": _slug("runtime", runtime),
        "runtime_version": _slug("runtime_version", runtime_version),
        "delegate": _slug("delegate", delegate),
        "inferences": _count("inferences", inferences),
        "errors": _count("errors", errors),
    }
    if raw:
        event["latency_ms"] = [float(x) for x in raw]
    event["latency_histogram"] = latency_histogram.to_wire()
    event["accelerated_fraction"] = _optional_amount("accelerated_fraction", accelerated_fraction, upper=1.0)
    event["fallback_ops"] = ops
    event["peak_rss_mb"] = _optional_amount("peak_rss_mb", peak_rss_mb)
    event["thermal_state"] = _optional_text("thermal_state", thermal_state)
    if energy_mj_per_inference is not None:  # only when measured: older servers ignore it either way
        event["energy_mj_per_inference"] = _amount("energy_mj_per_inference", energy_mj_per_inference)
    return event


def _frame(frame: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(frame) - set(FRAME_FIELDS)
    if unknown:
        raise ValueError(f"frame has fields outside the contract {FRAME_FIELDS}: {sorted(unknown)}")
    offset = frame.get("offset")
    if isinstance(offset, int) and not isinstance(offset, bool):
        offset = hex(offset)  # the contract carries offsets as "0x..." strings
    return {
        "function": _optional_text("frame function", frame.get("function")),
        "module": _optional_text("frame module", frame.get("module")),
        "offset": _optional_text("frame offset", offset),
        "in_app": bool(frame.get("in_app", False)),
    }


def crash_event(
    *,
    model: str,
    model_version: str,
    runtime: str,
    runtime_version: str,
    delegate: str,
    session_id: str | uuid.UUID,
    occurred_at: datetime | str,
    kind: str,
    message: str | None = None,
    signal: str | None = None,
    exception_type: str | None = None,
    frames: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An API.md ``crash`` event (``kind`` is native, exception, oom or watchdog)."""
    if kind not in CRASH_KINDS:
        raise ValueError(f"kind must be one of {CRASH_KINDS}, got {kind!r}")
    return {
        "type": "crash",
        "event_id": str(uuid7()),
        "session_id": _slug("session_id", str(session_id) if isinstance(session_id, uuid.UUID) else session_id),
        "occurred_at": format_timestamp(occurred_at),
        "model": _slug("model", model),
        "model_version": _slug("model_version", model_version),
        "runtime": _slug("runtime", runtime),
        "runtime_version": _slug("runtime_version", runtime_version),
        "delegate": _slug("delegate", delegate),
        "kind": kind,
        "signal": _optional_text("signal", signal),
        "exception_type": _optional_text("exception_type", exception_type),
        "message": _optional_text("message", message),
        "frames": [_frame(frame) for frame in frames],
    }
