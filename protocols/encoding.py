"""Bounded decompression of request bodies: gzip, deflate and brotli, never inflating past a limit (bombs)."""

import zlib

import brotli


class BodyError(Exception):
    """The body cannot be read: `status` is 413 (too large), 415 (unknown encoding) or 400 (corrupt)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def body_inflate(*, body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """The decoded bytes of `body`, at most `max_bytes` of them."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        out = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        out = _zlib_inflate(body, encoding, max_bytes)
    elif encoding == "br":
        out = _brotli_inflate(body, max_bytes)
    else:
        raise BodyError(415, f"Content-Encoding {content_encoding!r} is not supported (gzip, deflate, br)")
    if len(out) > max_bytes:
        raise BodyError(413, f"body is over {max_bytes} bytes after decompression")
    return out


def _zlib_inflate(body: bytes, encoding: str, max_bytes: int) -> bytes:
    # deflate: HTTP means zlib-wrapped, but some clients send raw deflate; 32+ detects zlib or gzip headers.
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else 32 + zlib.MAX_WBITS
    chunks, total, pending = [], 0, body
    try:
        while pending:  # a gzip body may hold several members
            inflater = zlib.decompressobj(wbits)
            try:
                chunk = inflater.decompress(pending, max_bytes - total + 1)
            except zlib.error:
                if encoding != "deflate" or chunks:
                    raise
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                chunk = inflater.decompress(pending, max_bytes - total + 1)
            total += len(chunk)
            chunks.append(chunk)
            if total > max_bytes or inflater.unconsumed_tail:
                raise BodyError(413, f"body is over {max_bytes} bytes after decompression")
            if not inflater.eof:
                raise BodyError(400, f"{encoding} body is truncated")
            pending = inflater.unused_data
    except zlib.error as error:
        raise BodyError(400, f"body is not valid {encoding}: {error}") from None
    return b"".join(chunks)


def _brotli_inflate(body: bytes, max_bytes: int) -> bytes:
    decompressor = brotli.Decompressor()
    try:
        out = bytearray(decompressor.process(body, output_buffer_limit=max_bytes + 1))
        while len(out) <= max_bytes and not decompressor.can_accept_more_data():
            out += decompressor.process(b"", output_buffer_limit=max_bytes + 1 - len(out))
    except brotli.error as error:
        raise BodyError(400, f"body is not valid brotli: {error}") from None
    if len(out) > max_bytes:
        raise BodyError(413, f"body is over {max_bytes} bytes after decompression")
    if not decompressor.is_finished():
        raise BodyError(400, "brotli body is truncated")
    return bytes(out)
