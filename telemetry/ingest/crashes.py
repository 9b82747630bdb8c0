"""Crash processing before storage: secret scrubbing, fingerprints and titles, app-version comparison."""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

FILTERED = "[Filtered]"
MAX_MESSAGE_CHARS = 4096
MAX_FRAME_TEXT_CHARS = 512
FINGERPRINT_FRAMES = 5

# -- scrubbing -------------------------------------------------------------------------------------------------

_SECRET_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token|auth[_-]?token"
    r"|api[_-]?key|apikey|private[_-]?key|authorization|credentials?|cookie|set-cookie"
)
# Linear by construction (tests/telemetry/test_scrub_bounded.py): texts are cut to their stored limit first, every
# unbounded repeat is possessive (`*+`, `++`: never gives characters back), and runs start only at a boundary, so
# two attempts never rescan one run. Backtracking patterns over "a." * 25000 cost ~20 s of a worker.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # key=value / key: value / "key": "value" — keep the key so the message still reads.
    (
        re.compile(
            rf"(?i)(\"?\b(?:{_SECRET_KEYS})\b\"?\s{{0,8}}+[:=]\s{{0,8}}+)"
            rf"(?:\"[^\"]{{0,512}}+\"|'[^']{{0,512}}+'|[^\s,;&)\]}}]++)"
        ),
        rf"\1{FILTERED}",
    ),
    (re.compile(r"(?i)\b(bearer|basic|token)\s{1,8}+[A-Za-z0-9\-._~+/]{8}[A-Za-z0-9\-._~+/=]*+"), rf"\1 {FILTERED}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,31}+://)[^\s:/@]{1,256}+:[^\s/@]{1,256}+@"), rf"\1{FILTERED}@"),  # user:pw@
    (re.compile(r"\bep_[0-9a-f]{8}_[A-Za-z0-9_\-]{16}[A-Za-z0-9_\-]*+"), FILTERED),  # our own API keys
    (re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,512}+\.[A-Za-z0-9_-]{8}[A-Za-z0-9_.-]*+"), FILTERED),  # JWT
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), FILTERED),  # AWS access key id
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30}[A-Za-z0-9]*+"), FILTERED),  # GitHub token
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10}[A-Za-z0-9-]*+"), FILTERED),  # Slack token
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), FILTERED),  # Google API key
    (re.compile(r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16}[0-9A-Za-z]*+"), FILTERED),  # Stripe key
)
_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN (?:[A-Z]{1,16}+ ){0,3}PRIVATE KEY-----")
_PRIVATE_KEY_END = re.compile(r"-----END (?:[A-Z]{1,16}+ ){0,3}PRIVATE KEY-----")
# The domain's labels are taken possessively; _email_replace keeps what follows the last alphabetic label.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}+@[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+){1,16}+")
# 13–19 digits, optionally grouped by single spaces or dashes; kept unless the Luhn check passes. Bounded: ≤ 37 chars.
_CARD_CANDIDATE = re.compile(r"(?<![\w.])\d(?:[ -]?\d){12,18}(?![\w.])")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_replace(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[Filtered card]" if _luhn_valid(digits) else match.group(0)


def _private_keys_scrub(text: str) -> str:
    """PEM private keys replaced up to their END line (or to the end of the text), found with one forward scan."""
    parts, position = [], 0
    while begin := _PRIVATE_KEY_BEGIN.search(text, position):
        end = _PRIVATE_KEY_END.search(text, begin.end())
        parts += [text[position : begin.start()], FILTERED]
        position = end.end() if end else len(text)
    return "".join([*parts, text[position:]]) if parts else text


def _email_replace(match: re.Match[str]) -> str:
    address = match.group(0)
    domain_end = len(address)
    while (dot := address.rfind(".", 0, domain_end)) > address.index("@"):
        label = address[dot + 1 : domain_end]
        if len(label) >= 2 and label.isascii() and label.isalpha():
            return "[email]" + address[domain_end:]
        domain_end = dot
    return address


def secrets_scrub(text: str | None, *, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text cut to `limit`, then tokens, passwords, API keys, Luhn-valid card numbers and emails replaced."""
    if not text:
        return ""
    text = text[:limit]  # before any pattern: the work is bounded by what is stored, not by what was sent
    for pattern, replacement in _SECRET_PATTERNS:  # a replacement may be longer than its match: cut again
        text = pattern.sub(replacement, text)[:limit]
    text = _private_keys_scrub(text)
    text = _EMAIL.sub(_email_replace, text)[:limit]
    return _CARD_CANDIDATE.sub(_card_replace, text)[:limit]


# Frame texts that scrubbing left as they were. The same functions and modules recur in crash after crash and
# 14 patterns per text were most of a crash's CPU; a text with a secret is never kept (it is scrubbed every time).
_CLEAN_FRAME_TEXTS: dict[str, None] = {}
_CLEAN_FRAME_TEXTS_MAX = 4096


def _frame_text_scrub(text: str | None) -> str | None:
    if text in _CLEAN_FRAME_TEXTS:
        return text
    scrubbed = secrets_scrub(text, limit=MAX_FRAME_TEXT_CHARS) or None
    if scrubbed is not None and scrubbed == text:  # nothing found, nothing cut
        if len(_CLEAN_FRAME_TEXTS) >= _CLEAN_FRAME_TEXTS_MAX:
            _CLEAN_FRAME_TEXTS.clear()
        _CLEAN_FRAME_TEXTS[text] = None
    return scrubbed


def frames_scrub(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Frames with their text fields scrubbed and capped (offsets are addresses, kept as sent)."""
    return [
        {
            "function": _frame_text_scrub(frame.get("function")),
            "module": _frame_text_scrub(frame.get("module")),
            "offset": frame.get("offset"),
            "in_app": bool(frame.get("in_app")),
        }
        for frame in frames
    ]


# -- grouping --------------------------------------------------------------------------------------------------

_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0[xX][0-9a-fA-F]++\b|\b[0-9a-fA-F]{8}[0-9a-fA-F]*+\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-@+]++){2,}+[\\/]?")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?+\d++(?:\.\d++)?+")
# `(file.cc:12)` is bounded (255): its inner text may hold `:`, which a possessive run would swallow.
_FUNCTION_NOISE = re.compile(
    r"(?<!\s)\s*+\+\s*+(?:0[xX][0-9a-fA-F]++|\d++)\s*+$|:\d++(?::\d++)?+$|\([^()]{0,255}:\d{1,9}\)$"
)
# Versions before a library's extension are found on the reversed name, matched at position 0 only: one attempt.
_MODULE_SO_SUFFIX = re.compile(r"(?:\d++\.)++os\.")  # reversed ".so.1.2" at the end
_MODULE_VERSION = re.compile(r"(?:os|bilyd|lld)\.((?:\d++\.)+\d++[-_.]?+)")  # reversed "-1.2.3" before ".so"

SEARCHED_PATTERNS = {
    **{f"_SECRET_PATTERNS[{i}]": pattern for i, (pattern, _) in enumerate(_SECRET_PATTERNS)},
    **{name: globals()[name] for name in ("_PRIVATE_KEY_BEGIN", "_PRIVATE_KEY_END", "_EMAIL", "_CARD_CANDIDATE",
                                          "_UUID", "_HEX", "_PATH", "_NUMBER", "_FUNCTION_NOISE")},
}  # fmt: skip
ANCHORED_PATTERNS = {"_MODULE_SO_SUFFIX": _MODULE_SO_SUFFIX, "_MODULE_VERSION": _MODULE_VERSION}


def message_template(message: str) -> str:
    """The message with uuids, hex, paths and numbers replaced: what stays the same across occurrences."""
    message = _UUID.sub("<uuid>", message[:MAX_MESSAGE_CHARS])
    message = _HEX.sub("<hex>", message)
    message = _PATH.sub("<path>", message)
    return _NUMBER.sub("<n>", message).strip()


def _frame_function(function: str | None) -> str:
    function = _FUNCTION_NOISE.sub("", (function or "")[:MAX_FRAME_TEXT_CHARS].strip())
    function = _HEX.sub("<hex>", function)
    return _NUMBER.sub("<n>", function)


def _frame_module(module: str | None) -> str:
    base = re.split(r"[\\/]", (module or "")[:MAX_FRAME_TEXT_CHARS].strip())[-1]
    reversed_base = base[::-1]
    if suffix := _MODULE_SO_SUFFIX.match(reversed_base):
        return base[: len(base) - suffix.end()]
    if version := _MODULE_VERSION.match(reversed_base):
        start, end = version.span(1)
        return base[: len(base) - end] + base[len(base) - start :]
    return base


@dataclass(frozen=True, slots=True)
class CrashIdentity:
    """How a crash groups: its fingerprint, and the title/culprit a new group is created with."""

    fingerprint: str
    title: str
    culprit: str


def crash_identity(
    *, kind: str, signal: str, exception_type: str, message: str, frames: list[dict[str, Any]]
) -> CrashIdentity:
    """Fingerprint from the top in-app frames, else exception type + module, else the message template."""
    head = exception_type or signal or kind
    in_app = [frame for frame in frames if frame.get("in_app")][:FINGERPRINT_FRAMES]
    top_module = _frame_module(frames[0].get("module")) if frames else ""
    if in_app:
        parts = ["frames", exception_type] + [
            f"{_frame_module(f.get('module'))}|{_frame_function(f.get('function'))}" for f in in_app
        ]
        culprit = _frame_function(in_app[0].get("function")) or _frame_module(in_app[0].get("module"))
        title = f"{head}: {culprit}"
    elif exception_type:
        parts = ["exception", exception_type, top_module]
        culprit = exception_type
        title = f"{exception_type}: {message_template(message)[:160]}" if message else exception_type
    else:
        template = message_template(message)
        parts = ["message", kind, signal, top_module, template]
        culprit = top_module or kind
        title = f"{head}: {template[:160]}" if template else f"{head} in {culprit}"
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return CrashIdentity(fingerprint=digest, title=title[:255], culprit=culprit[:255])


# -- versions --------------------------------------------------------------------------------------------------


def _natural_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d++|[A-Za-z]++", version[:80])
    )


def version_newer(candidate: str, than: str) -> bool:
    """True when app version `candidate` is newer than `than` (PEP 440 when both parse, else natural order)."""
    try:
        return Version(candidate) > Version(than)
    except InvalidVersion:
        return _natural_key(candidate) > _natural_key(than)
