"""What one line of a TFLite / LiteRT `benchmark_model` log says: its message without the logger's prefix, a
run-statistics line, an inference-timings line (tflite_benchmark_model reads the whole log).

The prefixes are those of Android logcat, the iOS console, glog and TFLite's own logger; the statistics follow
`xla/tsl/util/stats_calculator.{h,cc}` (Stat / PercentileStat::OutputToStream), times in microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmarks.importers.base import ArtifactError, number_from_text

_PREFIXES = (
    # Android logcat: "05-31 10:38:42.583 22206 22206 I tflite  : "
    re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+\d+\s+(?P<level>[VDIWEF])\s+[^:]*?\s*: ?"),
    # iOS console: "2020-10-28 14:41:14.151361+0800 TFLiteBenchmark[3921:935759] "
    re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+[+-]\d{4} \S+\[\d+:\d+\] "),
    # glog: "I1122 04:40:27.123456  1234 benchmark_model.cc:123] "
    re.compile(r"^(?P<level>[IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^\]]+\] "),
    # TFLite's own logger: "INFO: "
    re.compile(r"^(?P<level>INFO|WARNING|WARN|ERROR|FATAL|VERBOSE|DEBUG): "),
)
_ERROR_LEVELS = {"E", "F", "ERROR", "FATAL"}
_SOURCE_LOCATION = re.compile(r"^\[[\w./-]+\.(?:h|cc|cpp):\d+\] ")
_STAT = re.compile(
    r"^count=(?P<count>\S+)"
    r"(?: first=(?P<first>\S+) curr=(?P<curr>\S+) min=(?P<min>\S+) max=(?P<max>\S+)"
    r" avg=(?P<avg>\S+) std=(?P<std>\S+)| curr=(?P<same>[^\s(]+)(?:\(all same\))?)?(?P<extra>(?: [a-z0-9_.]+=\S+)*)$"
)
# Newer stats lines carry percentiles after std= ("p5=.. median=.. p95=..", xla/tsl/util/stats_calculator.h
# PercentileStat::OutputToStream): the ones a summary holds are kept.
_PERCENTILE_KEYS = {"median": "p50_ms", "p50": "p50_ms", "p90": "p90_ms", "p95": "p95_ms", "p99": "p99_ms"}


@dataclass
class Stat:
    """One run-statistics line, times in microseconds as the tool prints them."""

    line: int
    phase: int  # 1 = warm-up, 2 = measured, by the "Running benchmark for at least" lines before it; 0 unknown
    count: int
    first_us: float | None
    mean_us: float | None
    std_us: float | None
    min_us: float | None
    max_us: float | None
    percentiles_us: dict[str, float] = field(default_factory=dict)


def prefix_strip(raw: str) -> tuple[str, bool]:
    """The message part of a log line and whether it was logged at error level."""
    is_error = False
    for pattern in _PREFIXES:
        match = pattern.match(raw)
        if match:
            is_error = is_error or match.groupdict().get("level") in _ERROR_LEVELS
            raw = raw[match.end() :]
    return _SOURCE_LOCATION.sub("", raw, count=1), is_error


def stat_parse(text: str, line: int, phase: int = 0) -> Stat:
    match = _STAT.match(text)
    if match is None:
        raise ArtifactError(f"unreadable run statistics {text!r}", line=line)
    count = number_from_text(match["count"], line=line)
    if not count.is_integer():
        raise ArtifactError(f"count must be a whole number, got {match['count']!r}", line=line)
    extra = dict(pair.split("=", 1) for pair in match["extra"].split())
    percentiles = {
        _PERCENTILE_KEYS[k]: number_from_text(v, line=line) for k, v in extra.items() if k in _PERCENTILE_KEYS
    }
    if match["avg"] is not None:
        values = {key: number_from_text(match[key], line=line) for key in ("first", "min", "max", "avg", "std")}
        return Stat(
            line, phase, int(count), values["first"], values["avg"], values["std"], values["min"], values["max"],
            percentiles,
        )  # fmt: skip
    if match["same"] is not None:
        same = number_from_text(match["same"], line=line)
        return Stat(line, phase, int(count), same, same, 0.0, same, same, percentiles)
    if count != 0:
        raise ArtifactError(f"run statistics with count={int(count)} but no times", line=line)
    return Stat(line, phase, 0, None, None, None, None, None)


def timings_parse(pairs: str, line: int) -> dict[str, float]:
    values = {}
    for part in pairs.split(","):
        key, sep, value = part.partition(":")
        if not sep:
            raise ArtifactError(f"unreadable inference timing {part.strip()!r}", line=line)
        values[key.strip()] = number_from_text(value.strip(), line=line)
    return values
