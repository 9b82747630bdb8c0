"""Split a batch body into its events without recursion, for the one body msgspec cannot decode: JSON nested past
the interpreter's recursion limit. msgspec recurses even to skip a value, so one deep event would make the whole
envelope unreadable; this finds each event's bytes from bracket depths (vectorized, linear in the body), so the deep
event is rejected by index like any other bad event and the rest of the batch is stored.
"""

import re

import numpy as np

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_KEY = b'"events"'
_COLON_ARRAY = re.compile(rb"\s*:\s*\[")


def _blank(match: re.Match) -> bytes:
    """A string's bytes as spaces (positions kept), the events key as it is."""
    text = match.group()
    return text if text == _KEY else b" " * len(text)


def events_split(body: bytes) -> tuple[bytes, list[bytes]] | None:
    """(the body with `"events": []`, each event's bytes), or None when the body has no readable top-level events
    array (then the envelope error stands)."""
    masked = _STRING.sub(_blank, body)  # brackets and commas inside strings are not structure
    if masked.count(b'"') != 2 * masked.count(_KEY):
        return None  # an unterminated string
    chars = np.frombuffer(masked, dtype=np.uint8)
    step = np.isin(chars, (ord("["), ord("{"))).astype(np.int32) - np.isin(chars, (ord("]"), ord("}")))
    depth = np.cumsum(step)  # depth after each byte
    position = masked.find(_KEY)
    while position >= 0 and (depth[position] != 1 or not _COLON_ARRAY.match(masked, position + len(_KEY))):
        position = masked.find(_KEY, position + 1)
    if position < 0:
        return None
    start = _COLON_ARRAY.match(masked, position + len(_KEY)).end() - 1  # the "[" of the events array
    inside = slice(start + 1, None)
    closes = np.flatnonzero((chars[inside] == ord("]")) & (depth[inside] == 1))
    if len(closes) == 0:
        return None
    end = start + 1 + int(closes[0])
    commas = start + 1 + np.flatnonzero((chars[start + 1 : end] == ord(",")) & (depth[start + 1 : end] == 2))
    bounds = [start, *commas.tolist(), end]
    spans = [body[a + 1 : b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]
    if spans == [b""]:
        spans = []
    if any(not span for span in spans):
        return None  # an empty element: "[1,, 2]"
    return body[:start] + b"[]" + body[end + 1 :], spans
