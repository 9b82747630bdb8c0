"""Sentry envelopes (develop.sentry.dev/sdk/envelopes): a header line, then items, each a header line and a payload.

A payload is read by its header's `length` or, without one, up to the next newline. Item types we do not know
are skipped by that same rule, never fatal: GlitchTip's stop-at-the-first-unknown-item loses what follows.
"""

from dataclasses import dataclass
from typing import Any

import msgspec


class EnvelopeError(ValueError):
    """The envelope cannot be read (Sentry answers 400 and the client drops it)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One envelope item: its header (type, length, filename, ...) and raw payload bytes."""

    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str:
        return str(self.headers.get("type", ""))

    def json(self) -> Any:
        try:
            return msgspec.json.decode(self.payload)
        except msgspec.DecodeError as error:
            raise EnvelopeError(f"{self.type} item is not JSON: {error}") from None


def _json_line(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as error:
        raise EnvelopeError(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} is not a JSON object")
    return value


def envelope_parse(body: bytes) -> tuple[dict[str, Any], list[Item]]:
    """(envelope header, items); raises EnvelopeError on a malformed envelope."""
    end = body.find(b"\n")
    header = _json_line(body if end < 0 else body[:end], "envelope header")
    position, items = (len(body) if end < 0 else end + 1), []
    while position < len(body):
        end = body.find(b"\n", position)
        line = body[position:] if end < 0 else body[position:end]
        position = len(body) if end < 0 else end + 1
        if not line.strip():  # blank lines between items (and a trailing newline) are allowed
            continue
        headers = _json_line(line, f"item header {len(items)}")
        length = headers.get("length")
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise EnvelopeError(f"item {len(items)} has an invalid length {length!r}")
            if position + length > len(body):
                raise EnvelopeError(f"item {len(items)} is truncated: {length} bytes declared")
            payload = body[position : position + length]
            position += length
            if position < len(body) and body[position : position + 1] == b"\n":
                position += 1
        else:
            end = body.find(b"\n", position)
            payload = body[position:] if end < 0 else body[position:end]
            position = len(body) if end < 0 else end + 1
        items.append(Item(headers, payload))
    return header, items
