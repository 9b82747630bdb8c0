"""format=auto: recognise which tool wrote an artifact from its content, cheaply (no full parse).

Each format module has a `sniff(text) -> Sniff`; JSON exports are told apart by their top-level shape. The best
score wins; when none fits, FormatNotRecognised names every format tried and why it did not fit. Only the first
256 KiB are looked at (every tool prints its identifying lines early or in every line), except for the markers
that only a log's last lines carry, which are searched in its last 64 KiB too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from benchmarks.importers import executorch_runner, openvino_benchmark_app, trtexec_log
from benchmarks.importers.base import FORMATS, FormatNotRecognised, Sniff, decode_text

_HEAD = 1 << 18
_TAIL = 1 << 16


@dataclass(frozen=True)
class Detection:
    """The recognised format and, where the artifact prints it, the tool's version."""

    source_format: str
    version: str | None = None


def _json_document(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _sniff_json(text: str) -> dict[str, Sniff]:
    """Sniffs of the three JSON formats (each fits or says what it expected)."""
    document = _json_document(text)
    head = text[:_HEAD]
    if document is None:
        # Truncated or broken JSON: still say which export it looks like, so the parser names the broken line.
        looks = {
            "onnxruntime_profile": '"ph"' in head and ('"cat"' in head),
            "trtexec_times": '"latencyMs"' in head,
            "trtexec_profile": '"averageMs"' in head or re.search(r'^\s*\[\s*\{\s*"count"', head) is not None,
        }
        return {
            name: Sniff(score=5) if fits else Sniff(score=0, reason="not valid JSON and none of its field names")
            for name, fits in looks.items()
        }
    events = document.get("traceEvents") if isinstance(document, dict) else document
    first = events[0] if isinstance(events, list) and events and isinstance(events[0], dict) else {}
    sniffs = {
        "onnxruntime_profile": Sniff(score=20)
        if isinstance(events, list) and any(isinstance(e, dict) and "ph" in e and "name" in e for e in events[:50])
        else Sniff(score=0, reason="not an array of Chrome trace events (objects with 'ph' and 'name')"),
        "trtexec_times": Sniff(score=20)
        if "latencyMs" in first
        else Sniff(score=0, reason="first record has no 'latencyMs'"),
        "trtexec_profile": Sniff(score=20)
        if "count" in first and isinstance(document, list) and len(document) > 1 and "averageMs" in document[1]
        else Sniff(score=0, reason="not [{'count': N}, {'name', 'averageMs', ...}, ...]"),
    }
    return sniffs


def _sniff_tflite(text: str) -> Sniff:
    markers = ("inference timings in us", "operator-wise profiling info", "benchmark_model", "benchmark results",
               "inference (avg):", "number of nodes executed", "tflite", "graph: [", "= run order =")  # fmt: skip
    lowered = text.lower()
    found = [marker for marker in markers if marker in lowered]
    has_stats = re.search(r"^(?:.*?[:\]] )?count=\d+ (?:first=\S+ curr=|curr=)", text, re.M) is not None
    if not found and not has_stats:
        return Sniff(score=0, reason="no 'count=N first=... avg=... std=...' line and no 'Inference timings in us'")
    return Sniff(score=(10 if has_stats else 5) + len(found))


def _sniff_perf_test(text: str) -> Sniff:
    markers = ("Session creation time cost", "Total inference requests", "Average inference time cost",
               "Total inference run time", "Average time cost", "Total iterations:", "onnxruntime_perf_test",
               "Peak working set size", "Number of inferences per second", "Setting intra_op_num_threads",
               "Run failed:", "[E:onnxruntime:", "there is no test data for", "P50 Latency")  # fmt: skip
    found = [marker for marker in markers if marker in text]
    if not found:
        return Sniff(score=0, reason="no 'Session creation time cost' / 'Average inference time cost' line")
    return Sniff(score=10 + len(found))


def detect_format(data: bytes | str) -> Detection:
    """The format of an artifact, or FormatNotRecognised naming each format tried and why it did not fit."""
    full = decode_text(data)  # empty, binary and non-UTF-8 files fail here, before any guessing
    text = full if len(full) <= _HEAD + _TAIL else full[:_HEAD] + "\n" + full[-_TAIL:]
    stripped = text.lstrip()
    sniffs: dict[str, Sniff] = {}
    if stripped.startswith(("[", "{")):
        sniffs.update(_sniff_json(full if len(full) <= 16 * _HEAD else text))
    else:
        not_json = Sniff(score=0, reason="not JSON (the export starts with '[' or '{')")
        sniffs.update({name: not_json for name in ("onnxruntime_profile", "trtexec_times", "trtexec_profile")})
    text_sniffers = {
        "tflite_benchmark_model": _sniff_tflite,
        "onnxruntime_perf_test": _sniff_perf_test,
        "trtexec_log": trtexec_log.sniff,
        "openvino_benchmark_app": openvino_benchmark_app.sniff,
        "executorch_runner": executorch_runner.sniff,
    }
    json_fits = any(sniff.score for sniff in sniffs.values())
    for name, sniffer in text_sniffers.items():
        sniffs[name] = sniffer(text) if not json_fits else Sniff(score=0, reason="a JSON export, not a text log")
    best = max(FORMATS, key=lambda name: sniffs[name].score)
    if sniffs[best].score <= 0:
        raise FormatNotRecognised({name: sniffs[name].reason for name in FORMATS})
    return Detection(source_format=best, version=sniffs[best].version)
