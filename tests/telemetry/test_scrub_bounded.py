"""Scrubbing and grouping do bounded work per character: one crash report can never stall a web worker.

Bounded by construction, not by a clock: every text is cut to its stored limit before a pattern sees it, and
no pattern can backtrack over a run of unbounded length (every unbounded repeat is possessive, or the pattern
is only ever matched anchored at one position). So each match attempt scans a bounded prefix plus possessive
runs it either consumes or abandons without retrying inside them.
"""

import re
from re import _constants as sre_constants
from re import _parser as sre_parse

import pytest

from telemetry.ingest import crashes

WORST_INPUTS = {
    "dotted": "a." * 25_000,
    "digits": "1" * 50_000,
    "spaced digits": "1 " * 25_000,
    "key chain": "password=" * 6_000,
    "open quote": 'token="' * 7_000,
    "url scheme": "a+" * 25_000,
    "jwt": "eyJ-" * 12_500,
    "email local": "a" * 50_000 + "@",
    "paths": "/a" * 25_000 + ":",
    "whitespace": " " * 50_000 + "x",
    "parens": "(" * 50_000,
    "versions": "1." * 25_000 + "x",
    "private key": "-----BEGIN PRIVATE KEY-----" * 2_000,
}


def _unbounded_backtracking(pattern: re.Pattern[str]) -> list[str]:
    """The unbounded repeats of a pattern that can give characters back (greedy or lazy, not possessive)."""
    found = []

    def walk(items) -> None:
        for op, av in items:
            if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
                if av[1] == sre_constants.MAXREPEAT:
                    found.append(f"{op} {av[0]}..")
                walk(av[2])
            elif op is sre_constants.POSSESSIVE_REPEAT:
                walk(av[2])
            elif op is sre_constants.SUBPATTERN:
                walk(av[3])
            elif op is sre_constants.BRANCH:
                for branch in av[1]:
                    walk(branch)
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                walk(av[1])
            elif op is sre_constants.ATOMIC_GROUP:
                walk(av)

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    return found


@pytest.mark.parametrize("name", sorted(crashes.SEARCHED_PATTERNS))
def test_no_searched_pattern_can_backtrack_over_an_unbounded_run(name):
    assert _unbounded_backtracking(crashes.SEARCHED_PATTERNS[name]) == []


@pytest.mark.parametrize("name", sorted(crashes.ANCHORED_PATTERNS))
def test_backtracking_patterns_are_only_matched_at_one_position(name):
    # re.match from position 0 of a reversed text: one attempt, whatever the text's length.
    assert crashes.ANCHORED_PATTERNS[name].pattern.startswith("(?:")


class _Recorder:
    """Stands in for a compiled pattern and records the length of every text it is given."""

    def __init__(self, pattern, seen):
        self.pattern, self.seen = pattern, seen

    def __getattr__(self, name):
        def call(*args, **kwargs):
            texts = [a for a in args if isinstance(a, str)]
            self.seen.extend(len(t) for t in texts)
            return getattr(self.pattern, name)(*args, **kwargs)

        return call


@pytest.mark.parametrize("worst", sorted(WORST_INPUTS))
def test_every_text_is_cut_to_its_stored_limit_before_any_pattern_runs(monkeypatch, worst):
    seen: list[int] = []
    for name, pattern in [*crashes.SEARCHED_PATTERNS.items(), *crashes.ANCHORED_PATTERNS.items()]:
        if not name.startswith("_SECRET_PATTERNS"):
            monkeypatch.setattr(crashes, name, _Recorder(pattern, seen))
    recorded = tuple((_Recorder(pattern, seen), replacement) for pattern, replacement in crashes._SECRET_PATTERNS)
    monkeypatch.setattr(crashes, "_SECRET_PATTERNS", recorded)
    crashes._CLEAN_FRAME_TEXTS.clear()
    text = WORST_INPUTS[worst]

    message = crashes.secrets_scrub(text)
    frames = crashes.frames_scrub([{"function": text, "module": text, "in_app": True}] * 3)
    crashes.crash_identity(kind="native", signal="", exception_type="", message=message, frames=frames)
    crashes.crash_identity(kind="native", signal="", exception_type="E", message=message, frames=[])
    crashes.crash_identity(kind="native", signal="", exception_type="", message=message, frames=[])

    assert seen, "no pattern ran"
    assert max(seen) <= crashes.MAX_MESSAGE_CHARS
    assert len(message) <= crashes.MAX_MESSAGE_CHARS
    assert all(len(frame["function"]) <= crashes.MAX_FRAME_TEXT_CHARS for frame in frames)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contact jane.doe@example.com.123 now", "contact [email].123 now"),
        ("key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- end", "key [Filtered] end"),
        ("key -----BEGIN PRIVATE KEY-----\nMIIE", "key [Filtered]"),
        ("ghp_" + "a" * 36 + " ok", "[Filtered] ok"),
    ],
)
def test_rewritten_patterns_scrub_what_they_did(text, expected):
    assert crashes.secrets_scrub(text) == expected


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("/system/lib64/libfoo-1.2.3.so", "libfoo.so"),
        ("libc++.so.1.0", "libc++"),
        ("x.1.2.so", "x.so"),
        ("a..1.2.so", "a..so"),
        ("libtensorflowlite_gpu_delegate.so", "libtensorflowlite_gpu_delegate.so"),
        ("Foo_2.dll", "Foo_2.dll"),
    ],
)
def test_module_versions_are_stripped_as_before(module, expected):
    assert crashes._frame_module(module) == expected
