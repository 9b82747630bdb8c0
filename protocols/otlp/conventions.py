"""The documented OTLP conventions (docs/protocols/otlp.md): resource attributes, metric names, units."""

from typing import Any

# Resource attributes → the ingest batch's device.
DEVICE_UID = ("device.id", "edge.device_uid")
DEVICE_MODEL = ("edge.device_model", "device.model.identifier")
# Point attributes → the session's inference stack (all required).
STACK = ("model", "model_version", "runtime", "runtime_version", "delegate")

DURATION = "edge.inference.duration"  # histogram (exponential or explicit), unit ms (or s, us, ns)
INFERENCES = "edge.inference.count"  # sum
ERRORS = "edge.inference.errors"  # sum
ACCELERATED = "edge.inference.accelerated_fraction"  # gauge, 0..1
PEAK_RSS = "edge.memory.peak_rss"  # gauge, unit By (or KiBy, MiBy)
KNOWN = {DURATION, INFERENCES, ERRORS, ACCELERATED, PEAK_RSS}

TO_MS = {"": 1.0, "ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "ns": 1e-6}
TO_MB = {"": 1 / 2**20, "By": 1 / 2**20, "KiBy": 1 / 1024, "MiBy": 1.0, "MB": 1e6 / 2**20, "MBy": 1e6 / 2**20}


def any_value(value) -> Any:
    """An OTLP AnyValue as a Python scalar (arrays and maps as their text)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value"):
        return str(getattr(value, kind))
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def attributes(key_values) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


def first_of(attrs: dict[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        if attrs.get(name) not in (None, ""):
            return str(attrs[name])
    return None


def device_of(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The batch's device object, or None when the resource names no device uid or model."""
    uid, model = first_of(resource, DEVICE_UID), first_of(resource, DEVICE_MODEL)
    if uid is None or model is None:
        return None
    os_version = " ".join(str(resource[k]) for k in ("os.name", "os.version") if resource.get(k))
    return {"uid": uid[:128], "model": model, "os_version": os_version[:80] or None,
            "app_version": str(resource.get("service.version") or "")[:40] or None}  # fmt: skip
