"""`onnxruntime_perf_test` standard output (onnxruntime/test/perftest/performance_runner.cc).

Lines read (seconds converted to ms, bytes to MB of 2**20):
  Session creation time cost: X s          -> init_ms
  First inference time cost: X ms          -> first_inference_ms (the tool's warm-up run)
  Total inference requests: N  / Runs:N    -> latency.count
  Average inference time cost: X ms        -> latency.mean_ms (1.23+ builds: "Average inference time cost total: X ms",
                                              beside "... submission: X ms", the enqueue-only time, not kept)
  Total inference run time: X s            -> wall_time_ms
  Number of inferences per second: X       -> throughput_per_s
  Avg CPU usage: X %                       -> cpu_usage_percent
  Peak working set size: N bytes           -> peak_memory_mb
  Min/Max/P50/P90/P95/P99/P999 Latency: X s (older tools: "P50 Latency is X sec")
The percentiles are the tool's own (index floor(n*p) of the sorted times); no std is printed, so it is None.
Older tools print "Total time cost:", "Total iterations:" and "Average time cost:". A failure the tool
reports ("Run failed:...", an "[ONNXRuntimeError]", ...) makes a failed run. Unknown lines are ignored.
"""

from __future__ import annotations

import re

from benchmarks.importers.base import ArtifactError, ImportedRun, LatencySummary, decode_text, number_from_text

SOURCE_FORMAT = "onnxruntime_perf_test"
_BYTES_PER_MB = 1024 * 1024

# key -> (pattern, factor to the field's unit)
_FIGURES: dict[str, tuple[re.Pattern[str], float]] = {
    "init_ms": (re.compile(r"^Session creation time cost: ?(\S+) s$"), 1000),
    "first_inference_ms": (re.compile(r"^First inference time cost: ?(\S+) ms$"), 1),
    "count": (re.compile(r"^(?:Total inference requests|Total iterations|Runs): ?(\S+)$"), 1),
    "total_s": (re.compile(r"^Total (?:inference )?time cost(?: total)?: ?(\S+?)(?: s)?$"), 1),
    "mean_ms": (re.compile(r"^Average (?:inference )?time cost(?: total)?: ?(\S+) ms$"), 1),
    "wall_time_ms": (re.compile(r"^Total inference run time: ?(\S+) s$"), 1000),
    "throughput_per_s": (re.compile(r"^Number of inferences per second: ?(\S+)$"), 1),
    "cpu_usage_percent": (re.compile(r"^Avg CPU usage: ?(\S+?)(?: %)?$"), 1),
    "peak_memory_mb": (re.compile(r"^Peak working set size: ?(\S+?)(?: bytes)?$"), 1 / _BYTES_PER_MB),
}
_LATENCY = re.compile(r"^(Min|Max|P50|P90|P95|P99|P999) Latency(?:: | is )(\S+) (?:s|sec)$")
_LATENCY_FIELDS = {"Min": "min_ms", "Max": "max_ms", "P50": "p50_ms", "P90": "p90_ms", "P95": "p95_ms",
                   "P99": "p99_ms", "P999": "p999_ms"}  # fmt: skip
_FAILURES = re.compile(
    r"^(Run failed:|Failed to compile model:|Error creating environment:|failed to initialize"
    r"|there is no test (input )?data for|terminate called after throwing|\s*what\(\): )|\[ONNXRuntimeError\]"
)
_ORT_ERROR_LOG = re.compile(r"\[[EF]:onnxruntime:")  # the runtime's own error-level log lines: context for a failure
_PROVIDER = re.compile(r"^using (\w+ExecutionProvider)$")
_THREADS = re.compile(r"^Setting (intra_op_num_threads|inter_op_num_threads) to (\d+)$")


def parse(data: bytes | str) -> ImportedRun:
    """Read `onnxruntime_perf_test` output into an ImportedRun."""
    figures: dict[str, float] = {}
    percentiles: dict[str, float] = {}
    failures: list[str] = []
    error_lines: list[str] = []
    environment: dict[str, str] = {}
    for number, raw in enumerate(decode_text(data).splitlines(), start=1):
        line = raw.strip()
        if _FAILURES.search(line):
            failures.append(line)
        if _FAILURES.search(line) or _ORT_ERROR_LOG.search(line):
            error_lines.append(line)
            continue
        if match := _LATENCY.match(line):
            percentiles.setdefault(_LATENCY_FIELDS[match[1]], number_from_text(match[2], line=number) * 1000)
        elif match := _PROVIDER.match(line):
            environment["execution_provider"] = match[1]
        elif match := _THREADS.match(line):
            environment[match[1]] = match[2]
        else:
            for key, (pattern, factor) in _FIGURES.items():
                if match := pattern.match(line):
                    # The tool prints some figures twice ("Avg CPU usage: 74 %" and "Avg CPU usage:74").
                    figures.setdefault(key, number_from_text(match[1], line=number) * factor)
                    break

    count = figures.get("count")
    if count is not None and not count.is_integer():
        raise ArtifactError(f"request count must be a whole number, got {count!r}", field="Total inference requests")
    if "mean_ms" not in figures and figures.get("total_s") is not None and count:
        figures["mean_ms"] = figures["total_s"] * 1000 / count
    latency = None
    if "mean_ms" in figures or percentiles:
        latency = LatencySummary(count=int(count) if count is not None else None, mean_ms=figures.get("mean_ms"),
                                 **percentiles)  # fmt: skip
    if latency is None and "throughput_per_s" not in figures and not failures and error_lines:
        failures.append(error_lines[0])  # stopped on a runtime error before measuring (a missing test-data dir, ...)
    if latency is None and "throughput_per_s" not in figures and not failures:
        raise ArtifactError(
            "no performance figures: expected 'Average inference time cost: X ms', 'P50 Latency: X s' "
            "or 'Number of inferences per second: X'",
            field="latency",
        )
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        status="failed" if failures else "done",
        error=failures[0] if failures else "",
        error_lines=error_lines if failures else [],
        init_ms=figures.get("init_ms"),
        first_inference_ms=figures.get("first_inference_ms"),
        latency=latency,
        throughput_per_s=figures.get("throughput_per_s"),
        wall_time_ms=figures.get("wall_time_ms"),
        peak_memory_mb=figures.get("peak_memory_mb"),
        cpu_usage_percent=figures.get("cpu_usage_percent"),
        delegates=[environment["execution_provider"]] if "execution_provider" in environment else [],
        environment=environment,
    )
