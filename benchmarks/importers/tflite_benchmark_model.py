"""TFLite / LiteRT `benchmark_model` text log, with or without `--enable_op_profiling`.

Follows tensorflow/tensorflow `tensorflow/lite/tools/benchmark/benchmark_model.cc` (BenchmarkLoggingListener:
the stats and "Inference timings" lines), `benchmark_tflite_model.cc` (delegate and memory lines),
`xla/tsl/util/stats_calculator.{h,cc}` (Stat / PercentileStat::OutputToStream, the op tables), and LiteRT's
`litert/tools/benchmark_litert_model.h` (BenchmarkLoggingListener::OnBenchmarkEnd, the 2.x results block).

What is read (all tool times are microseconds and converted to ms here):
- `count=.. first=.. curr=.. min=.. max=.. avg=.. std=..` lines: the first is the warm-up phase, the
  second the measured runs (each follows a "Running benchmark for at least" line when the log has them).
  A single line without those is the measured one when its avg equals `Inference (avg)` (write-ups often
  paste only that), the warm-up when it equals `Warmup (avg)`, and the measured one when nothing tells
  them apart. `count=N curr=X` means every run took X.
- `Inference timings in us: Init, First inference, Warmup (avg), Inference (avg)` (and the older
  `Average inference timings in us: Warmup, Init, Inference`).
- memory: `Memory footprint delta from the start of the tool (MB): init= overall=` and its older name
  `Peak memory footprint (MB): init= overall=` are the same figure, the growth of the process's peak RSS
  since the tool started: init -> init_memory_mb, overall -> peak_memory_mb.
- model size, delegate lines, `Name: [value]` parameter lines (-> environment).
- op profiling (tables read by tflite_op_tables): the primary graph's "Run Order" table of the regular
  runs, else its "Summary by node type"; initialization profiles, subgraph tables and "Delegate internal"
  tables are not counted, since their time is already inside the primary graph's nodes. Its "Timings
  (microseconds)" line is the latency fallback when the log has no run-statistics line.
Lines are read with any `INFO:`, logcat, glog or iOS prefix removed; unknown lines are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmarks.importers.base import (
    ArtifactError,
    ImportedRun,
    LatencySummary,
    decode_text,
    number_from_text,
    shares_by_delegate,
)
from benchmarks.importers.tflite_log_lines import Stat, prefix_strip, stat_parse, timings_parse
from benchmarks.importers.tflite_op_tables import (
    TABLE_TITLE,
    OpTable,
    ends_table,
    header_columns,
    ops_from_tables,
    table_row,
)

SOURCE_FORMAT = "tflite_benchmark_model"

_FAILURES = re.compile(
    r"^(Failed to apply .*delegate|Failed to invoke|Benchmarking failed|Failed to allocate tensors"
    r"|Failed to construct interpreter|Failed to initialize the interpreter|Failed to mmap model"
    r"|Disallowed CPU fallback detected)"
    r"|Node number \d+ \(.*\) failed to (invoke|prepare)"
)
# LiteRT 2.x benchmark_litert_model.h BenchmarkLoggingListener: "Inference (avg):      7430.20 ms (10 runs)".
_LITERT_RESULT = re.compile(
    r"^(?P<key>Model initialization|Warmup \(first\)|Warmup \(avg\)|Inference \((?:avg|min|max|std)\)"
    r"|Init footprint|Overall footprint|Peak memory):\s+(?P<value>\S+)(?: ms| MB)?(?: \((?P<runs>\d+) runs\))?$"
)
_STATS_TABLES = ("Run Order", "Top by Computation Time", "Top by Memory Use", "Summary by node type")
_TIMINGS = re.compile(r"^(Average )?[Ii]nference timings in us: (?P<pairs>.*)$")
_MEMORY = re.compile(
    r"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    r"init=(?P<init>\S+) overall=(?P<overall>\S+)$"
)
_MONITORED_PEAK = re.compile(r"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<mb>\S+)$")
_MODEL_SIZE = re.compile(r"^The input model file size \(MB\): (?P<mb>\S+)$")
_SESSION_INIT = re.compile(r"^Initialized session in (?P<ms>\S+?)ms\.$")
_CREATED = re.compile(r"^(?P<name>\S+) delegate created\.$")
_DEFAULT_XNNPACK = re.compile(r"^Created TensorFlow Lite XNNPACK delegate for CPU\.$")
_APPLIED = re.compile(
    r"^Explicitly applied (?P<name>.+?) delegate, and the model graph will be "
    r"(?:(?P<complete>completely executed)|partially executed by the delegate w/ (?P<kernels>\d+) delegate kernels)"
)
_NOT_APPLIED = re.compile(r"^Though (?P<name>.+?) delegate is explicitly applied, the model graph will not be")
_PARAM = re.compile(r"^(?P<key>[#A-Za-z][^:\[\]]{0,80}): \[(?P<value>[^\]]*)\]$")


@dataclass
class _Log:
    stats: list[Stat] = field(default_factory=list)
    phases: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    timings_line: int | None = None
    profile_stat: Stat | None = None
    tables: dict[str, OpTable] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)
    init_memory_mb: float | None = None
    peak_memory_mb: float | None = None
    monitored_peak_mb: float | None = None
    model_size_mb: float | None = None
    session_init_ms: float | None = None
    delegates: list[str] = field(default_factory=list)
    delegation: str | None = None
    delegate_kernels: int | None = None
    environment: dict[str, str] = field(default_factory=dict)
    litert: dict[str, float] = field(default_factory=dict)  # LiteRT 2.x "BENCHMARK RESULTS" block, key -> value
    litert_runs: dict[str, int] = field(default_factory=dict)


def _read(text: str) -> _Log:
    log = _Log()
    # 2019-2020 tools print the op tables with no "Operator-wise Profiling Info" heading: they are the runs'.
    headed = "Operator-wise Profiling Info" in text or "Profiling Info for Benchmark Initialization" in text
    section = None if headed else "run"  # "init", "run" or "delegate_internal" once a profiling report starts
    subgraph = 0
    table: OpTable | None = None
    expect_header = False
    for number, raw in enumerate(text.splitlines(), start=1):
        message, is_error = prefix_strip(raw.rstrip("\r"))
        stripped = message.strip()
        if table is not None and expect_header:
            expect_header = False
            if table.counted:
                table.columns, table.is_csv = header_columns(stripped, number)
            continue
        if table is not None:
            if not ends_table(stripped):
                if table.counted:
                    table.rows.append(table_row(message, table, number))
                continue
            table = None
            if not stripped:
                continue
        if _FAILURES.search(stripped):
            log.failures.append(stripped)
        if is_error or _FAILURES.search(stripped):
            log.error_lines.append(stripped)
        if stripped == "Profiling Info for Benchmark Initialization:":
            section, subgraph = "init", 0
        elif stripped == "Operator-wise Profiling Info for Regular Benchmark Runs:":
            section, subgraph = "run", 0
        elif stripped == "Delegate internal:":
            section = "delegate_internal"
        elif re.match(r"^Primary graph (profile|summary):$", stripped):
            subgraph = 0
        elif match := re.match(r"^Subgraph \(index: (\d+)\) (profile|summary):$", stripped):
            subgraph = int(match[1])
        elif section is not None and (match := TABLE_TITLE.match(stripped)) and match["title"] in _STATS_TABLES:
            # Only the primary graph's tables of the regular runs count (see the module docstring).
            table = OpTable(title=match["title"], counted=section == "run" and subgraph == 0, columns=[])
            if table.counted:
                log.tables.setdefault(table.title, table)
            expect_header = True
        elif stripped.startswith("Timings (microseconds): "):
            if section == "run" and subgraph == 0:
                log.profile_stat = stat_parse(stripped.removeprefix("Timings (microseconds): "), number)
        elif stripped.startswith("Running benchmark for at least "):
            log.phases += 1
        elif stripped.startswith("count="):
            log.stats.append(stat_parse(stripped, number, log.phases))
            if len(log.stats) > 2:
                raise ArtifactError("a third run-statistics line: upload one benchmark run per artifact", line=number)
        elif match := _LITERT_RESULT.match(stripped):
            log.litert.setdefault(match["key"], number_from_text(match["value"], line=number))
            if match["runs"]:
                log.litert_runs.setdefault(match["key"], int(match["runs"]))
        elif match := _TIMINGS.match(stripped):
            if log.timings_line is not None:
                raise ArtifactError("a second 'Inference timings' line: upload one run per artifact", line=number)
            log.timings, log.timings_line = timings_parse(match["pairs"], number), number
        elif match := _MEMORY.match(stripped):
            log.init_memory_mb = number_from_text(match["init"], line=number)
            log.peak_memory_mb = number_from_text(match["overall"], line=number)
        elif match := _MONITORED_PEAK.match(stripped):
            log.monitored_peak_mb = number_from_text(match["mb"], line=number)
        elif match := _MODEL_SIZE.match(stripped):
            log.model_size_mb = number_from_text(match["mb"], line=number)
        elif match := _SESSION_INIT.match(stripped):
            log.session_init_ms = number_from_text(match["ms"], line=number)
        elif match := _CREATED.match(stripped):
            _add_delegate(log, match["name"])
        elif _DEFAULT_XNNPACK.match(stripped):
            _add_delegate(log, "XNNPACK")
        elif match := _APPLIED.match(stripped):
            _add_delegate(log, match["name"])
            log.delegation = "complete" if match["complete"] else "partial"
            log.delegate_kernels = None if match["complete"] else int(match["kernels"])
        elif match := _NOT_APPLIED.match(stripped):
            _add_delegate(log, match["name"])
            log.delegation = log.delegation or "none"
        elif match := _PARAM.match(stripped):
            log.environment.setdefault(match["key"], match["value"])
    return log


def _add_delegate(log: _Log, name: str) -> None:
    if name not in log.delegates:
        log.delegates.append(name)


def _latency(stat: Stat) -> LatencySummary:
    return LatencySummary(
        count=stat.count,
        mean_ms=stat.mean_us / 1000,
        std_ms=stat.std_us / 1000,
        min_ms=stat.min_us / 1000,
        max_ms=stat.max_us / 1000,
        **{key: value / 1000 for key, value in stat.percentiles_us.items()},
    )


def _litert_latency(log: _Log) -> LatencySummary | None:
    """The LiteRT 2.x results block's figures (already in ms; its std has no unit and is in ms too)."""
    if "Inference (avg)" not in log.litert:
        return None
    return LatencySummary(
        count=log.litert_runs.get("Inference (avg)"),
        mean_ms=log.litert["Inference (avg)"],
        std_ms=log.litert.get("Inference (std)"),
        min_ms=log.litert.get("Inference (min)"),
        max_ms=log.litert.get("Inference (max)"),
    )


def _inference_avg_us(timings: dict[str, float]) -> float | None:
    # TF 1.x tools printed the measured average as "no stats: X" (third, after Warmup and Init).
    for key in ("Inference (avg)", "Inference", "no stats"):
        if key in timings:
            return timings[key]
    return None


def _close(a: float, b: float) -> bool:
    # The tool prints both figures with six significant digits.
    return abs(a - b) <= max(1e-5 * max(abs(a), abs(b)), 0.5)


def _split_stats(log: _Log) -> tuple[Stat | None, Stat | None]:
    """The warm-up and the measured run-statistics lines."""
    stats = [stat for stat in log.stats if stat.count > 0]
    if any(stat.phase for stat in stats):
        by_phase = {stat.phase: stat for stat in stats}
        return by_phase.get(1), by_phase.get(2)
    if len(stats) == 2:
        return stats[0], stats[1]
    if len(stats) == 1:
        only = stats[0]
        measured_avg = _inference_avg_us(log.timings)
        warmup_avg = log.timings.get("Warmup (avg)", log.timings.get("Warmup"))
        if measured_avg is not None and _close(only.mean_us, measured_avg):
            return None, only
        if warmup_avg is not None and _close(only.mean_us, warmup_avg):
            return only, None
        if measured_avg is not None:
            raise ArtifactError("run statistics match neither 'Warmup (avg)' nor 'Inference (avg)'", line=only.line)
        return None, only
    return None, None


def parse(data: bytes | str) -> ImportedRun:
    """Read a `benchmark_model` log into an ImportedRun."""
    log = _read(decode_text(data))
    warmup, measured = _split_stats(log)
    timings = log.timings
    latency = None
    if measured is not None:
        latency = _latency(measured)
    elif (inference_us := _inference_avg_us(timings)) is not None:
        latency = LatencySummary(mean_ms=inference_us / 1000)
    elif (litert := _litert_latency(log)) is not None:
        latency = litert
    elif log.profile_stat is not None and log.profile_stat.count > 0:
        latency = _latency(log.profile_stat)
    if latency is None and not log.failures and log.error_lines:
        log.failures.append(log.error_lines[0])  # the tool stopped on an error-level line before measuring
    failed = bool(log.failures)
    if latency is None and not failed:
        raise ArtifactError(
            "no latency figures: expected a measured 'count=... avg=...' line, an 'Inference timings in us: ...'"
            " line or an op-profiling 'Timings (microseconds): ...' line",
            field="latency",
        )

    init_ms = timings["Init"] / 1000 if "Init" in timings else log.session_init_ms
    first_us = timings.get("First inference")
    if first_us is None and warmup is not None:
        first_us = warmup.first_us
    warmup_us = timings.get("Warmup (avg)", timings.get("Warmup"))
    if warmup_us is None and warmup is not None:
        warmup_us = warmup.mean_us
    litert = {key: value * 1000 for key, value in log.litert.items()}  # to us, like the rest of the log
    init_ms = init_ms if init_ms is not None else log.litert.get("Model initialization")
    first_us = first_us if first_us is not None else litert.get("Warmup (first)")
    warmup_us = warmup_us if warmup_us is not None else litert.get("Warmup (avg)")
    if log.peak_memory_mb is None and "Overall footprint" in log.litert:
        log.init_memory_mb, log.peak_memory_mb = log.litert.get("Init footprint"), log.litert["Overall footprint"]
    log.monitored_peak_mb = log.monitored_peak_mb or log.litert.get("Peak memory")

    ops = ops_from_tables(log.tables)
    accelerated_fraction, delegate_summary = shares_by_delegate(ops)
    if not ops and log.delegation == "complete":
        accelerated_fraction = 1.0
    profiled_runs = log.profile_stat.count if ops and log.profile_stat is not None else None
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        status="failed" if failed else "done",
        error=log.failures[0] if failed else "",
        error_lines=list(dict.fromkeys(log.error_lines)) if failed else [],
        init_ms=init_ms,
        first_inference_ms=first_us / 1000 if first_us is not None else None,
        warmup_avg_ms=warmup_us / 1000 if warmup_us is not None else None,
        latency=latency,
        # Runs are sequential, one inference each, so throughput is the reciprocal of the mean latency.
        throughput_per_s=1000 / latency.mean_ms if latency and latency.mean_ms else None,
        peak_memory_mb=log.peak_memory_mb,
        peak_memory_monitored_mb=log.monitored_peak_mb,
        init_memory_mb=log.init_memory_mb,
        model_size_mb=log.model_size_mb,
        accelerated_fraction=accelerated_fraction,
        delegates=log.delegates,
        delegation=log.delegation,
        delegate_kernels=log.delegate_kernels,
        delegate_summary=delegate_summary,
        ops=ops,
        profiled_runs=profiled_runs,
        environment=log.environment,
    )
