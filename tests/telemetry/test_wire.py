"""The ingest body's cheap pre-checks (telemetry/wire.py)."""

from telemetry.ingest import wire


def test_the_nul_escape_precheck_finds_the_escape_and_passes_text_without_backslashes():
    assert wire.has_nul_escape(b'{"message": "a\\u0000b"}')
    assert wire.has_nul_escape(b'{"message": "a\\\\u0000b"}')  # an escaped backslash: nul_paths then says no
    assert not wire.has_nul_escape(b'{"message": "u0000", "n": 1000000}')
    assert not wire.has_nul_escape(b'{"message": "a\\"b"}')
