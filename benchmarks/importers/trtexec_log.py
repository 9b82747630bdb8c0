"""TensorRT `trtexec` console output (TensorRT 7.x to 10.x), with or without `--dumpProfile`.

Follows the printing code of NVIDIA/TensorRT `samples/common/sampleReporting.cpp`:
- `printEpilog` (TensorRT 8.2+): "=== Performance summary ===", then `Throughput: X qps`, and for `Latency`,
  `End-to-End Host Latency`, `Enqueue Time`, `H2D Latency`, `GPU Compute Time`, `D2H Latency` a line
  `min = X ms, max = X ms, mean = X ms, median = X ms, percentile(P%) = X ms` (one percentile per
  `--percentile`; 10.x prints 90 %, 95 % and 99 %), then `Total Host Walltime: X s` and `Total GPU Compute Time: X s`.
- the older `printEpilog` (TensorRT 7.x to 8.0): a title line (`Host Latency`, `Enqueue Time`, `H2D Latency`,
  `GPU Compute`, `D2H Latency`) followed by `min: X ms (end to end Y ms)`, `max:`, `mean:`, `median:`,
  `percentile: X ms at P% (end to end ...)`, `throughput: X qps`, `walltime: X s`.
- `printProlog`: `Timing trace has N queries over X s` -> the number of measured queries.
- `Profiler::print` (`--dumpProfile`): "=== Profile (N iterations ) ===" then either the old layout
  (layer name first, `Time (ms)`, `Avg. Time (ms)`, `Time %`) or the 8.x+/10.x layout (`Time(ms)`,
  `Avg.(ms)`, `Median(ms)`, `Time(%)`, then the layer name); the `Total` row is not a layer.
- `Engine deserialized in X sec.` / `Engine loaded in X sec.` (else `Engine built in X sec.`) -> init_ms.
- sampleOptions' option dump (`Precision: FP16`, `DLACore: 0`, ...) and the `&&&& RUNNING/PASSED/FAILED
  TensorRT.trtexec [TensorRT vMMmmpp]` lines (the version number is major*1000 + minor*100 + patch).

Figures: the run's latency is the `Latency` line (H2D + GPU compute + D2H per query, host-measured);
`GPU Compute Time` is kept as compute_latency. Throughput is in queries per second. Layer names are kept
whole (fused names can be thousands of characters long). A layer whose name says DLA ran on the DLA, not
the GPU. `&&&& FAILED`, or `[E]` lines with no performance summary, make a failed run carrying the error lines.
"""

from __future__ import annotations

import re

from benchmarks.importers.base import (
    ArtifactError,
    ImportedRun,
    LatencySummary,
    OpProfile,
    Sniff,
    decode_text,
    number_from_text,
    shares_by_delegate,
)

SOURCE_FORMAT = "trtexec_log"

_PREFIX = re.compile(r"^(?:\[\d{2}/\d{2}/\d{4}-\d{2}:\d{2}:\d{2}\] )?\[(?P<level>[IWEVF])\] ?")
_BANNER = re.compile(r"^&&&& (?P<state>RUNNING|PASSED|FAILED|WAIVED) TensorRT\.trtexec(?: \[TensorRT v(?P<v>\d+)\])?")
_METRICS = {
    "Latency": "latency",
    "End-to-End Host Latency": "end_to_end",
    "Enqueue Time": "enqueue",
    "H2D Latency": "h2d",
    "GPU Compute Time": "compute",
    "D2H Latency": "d2h",
}
_SUMMARY_LINE = re.compile(r"^(?P<metric>" + "|".join(re.escape(name) for name in _METRICS) + r"): (?P<values>min.*)$")
_VALUE = re.compile(r"(?P<key>min|max|mean|median|percentile\((?P<p>[\d.]+)%\))\s*=?\s*(?P<value>[^\s,]+) ms")
_OLD_TITLES = {"Host Latency": "latency", "Enqueue Time": "enqueue", "H2D Latency": "h2d",
               "GPU Compute": "compute", "D2H Latency": "d2h"}  # fmt: skip
_OLD_VALUE = re.compile(r"^(?P<key>min|max|mean|median|percentile): (?P<value>\S+) ms(?: at (?P<p>[\d.]+)%)?")
_THROUGHPUT = re.compile(r"^[Tt]hroughput: (?P<value>\S+) qps$")
_WALLTIME = re.compile(r"^(?:Total Host Walltime|walltime): (?P<value>\S+) s$")
_GPU_TOTAL = re.compile(r"^Total GPU Compute Time: (?P<value>\S+) s$")
_QUERIES = re.compile(r"^Timing trace has (?P<count>\d+) queries over (?P<s>\S+) s$")
_ENGINE_TIME = re.compile(r"^Engine (?P<what>built|deserialized|loaded) in (?P<s>\S+) sec\.?$")
_PROFILE_TITLE = re.compile(r"^=== Profile \((?P<count>\d+) iterations ?\) ===$")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NEW_ROW = re.compile(rf"^\s*(?P<numbers>(?:{_NUM}\s+){{3,4}})(?P<name>\S.*?)\s*$")
_OLD_ROW = re.compile(rf"^\s*(?P<name>\S.*?)\s+(?P<total>{_NUM})\s+(?P<avg>{_NUM})\s+(?P<pct>{_NUM})\s*$")
_OPTIONS = ("Precision", "DLACore", "Batch", "Max batch", "Iterations", "Duration", "Warmup", "Streams",
            "Sparsity", "Device", "Format", "Model", "Plugins", "Allow GPU fallback for DLA")  # fmt: skip
_DLA = re.compile(r"(?i)(?:^|[^a-z])dla(?:$|[^a-z])")


def _version(encoded: str) -> str:
    # TensorRT's NV_TENSORRT_VERSION: major * 1000 + minor * 100 + patch for 7.x-9.x, major*10000+... for 10.x.
    number = int(encoded)
    if number >= 100000:
        return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
    return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


def layer_delegate(name: str) -> str:
    """ "dla" for a layer whose name says it ran on a DLA core, else "gpu"."""
    return "dla" if _DLA.search(name) else "gpu"


def sniff(text: str) -> Sniff:
    """Whether the text is trtexec console output, and which TensorRT version it names."""
    markers = ("=== Performance summary ===", "TensorRT.trtexec", "GPU Compute Time: min", "=== Profile (",
               "Engine set up failed", "Trace averages of")  # fmt: skip
    found = [marker for marker in markers if marker in text]
    if not found and not re.search(r"^(?:\[[^\]]+\] )?\[I\] Host Latency\s*$", text, re.M):
        return Sniff(
            score=0, reason="no '=== Performance summary ===', '&&&& ... TensorRT.trtexec' or '=== Profile (' line"
        )
    version = re.search(r"\[TensorRT v(\d+)\]", text)
    return Sniff(score=10 + len(found), version=_version(version[1]) if version else None)


def _summary_values(text: str, line: int) -> dict[str, float]:
    values = {}
    for match in _VALUE.finditer(text):
        key = f"p{float(match['p']):g}" if match["p"] else match["key"]
        values[key] = number_from_text(match["value"], line=line)
    if not {"min", "max", "mean"} <= values.keys():
        raise ArtifactError(f"unreadable performance summary line {text!r}", line=line)
    return values


def _latency(values: dict[str, float] | None, count: int | None) -> LatencySummary | None:
    if not values:
        return None
    return LatencySummary(
        count=count,
        mean_ms=values.get("mean"),
        min_ms=values.get("min"),
        max_ms=values.get("max"),
        p50_ms=values.get("median"),
        p90_ms=values.get("p90"),
        p95_ms=values.get("p95"),
        p99_ms=values.get("p99"),
        p999_ms=values.get("p99.9"),
    )


def _profile_row(text: str, layout: str, line: int) -> tuple[str, float, float] | None:
    """(layer, total ms, average ms) of one --dumpProfile row; None for the Total row."""
    if layout == "new":
        match = _NEW_ROW.match(text)
        if match is None:
            raise ArtifactError(f"unreadable --dumpProfile row {text.strip()!r}", line=line)
        numbers = [number_from_text(token, line=line) for token in match["numbers"].split()]
        name, total, average = match["name"], numbers[0], numbers[1]
    else:
        match = _OLD_ROW.match(text)
        if match is None:
            raise ArtifactError(f"unreadable --dumpProfile row {text.strip()!r}", line=line)
        name = match["name"]
        total, average = number_from_text(match["total"], line=line), number_from_text(match["avg"], line=line)
    return None if name == "Total" else (name, total, average)


def parse(data: bytes | str) -> ImportedRun:
    """Read trtexec console output into an ImportedRun."""
    summary: dict[str, dict[str, float]] = {}
    figures: dict[str, float] = {}
    environment: dict[str, str] = {}
    error_lines: list[str] = []
    layers: list[tuple[str, float, float]] = []
    version = state = None
    old_section = profile_layout = None
    profiled_runs = None
    for number, raw in enumerate(decode_text(data).splitlines(), start=1):
        prefix = _PREFIX.match(raw)
        level = prefix["level"] if prefix else None
        text = raw[prefix.end() :] if prefix else raw
        stripped = text.strip()
        if profile_layout is not None:
            if not stripped:
                profile_layout = None if layers else profile_layout
                continue
            if profile_layout == "header":
                profile_layout = "new" if stripped.startswith("Time") else "old"
                continue
            row = _profile_row(text, profile_layout, number)
            if row is None:
                profile_layout = None
            else:
                layers.append(row)
            continue
        if level in ("E", "F"):
            error_lines.append(stripped)
        if match := _BANNER.match(stripped):
            state = match["state"]
            if match["v"]:
                version = _version(match["v"])
            if state == "RUNNING":
                environment["command"] = stripped.partition("# ")[2][:1000]
            elif state == "FAILED":
                error_lines.append(stripped)
        elif match := _SUMMARY_LINE.match(stripped):
            summary.setdefault(_METRICS[match["metric"]], _summary_values(match["values"], number))
        elif stripped in _OLD_TITLES:
            old_section = _OLD_TITLES[stripped]
        elif old_section and (match := _OLD_VALUE.match(stripped)):
            key = f"p{float(match['p']):g}" if match["key"] == "percentile" and match["p"] else match["key"]
            summary.setdefault(f"old_{old_section}", {})[key] = number_from_text(match["value"], line=number)
        elif match := _THROUGHPUT.match(stripped):
            figures.setdefault("throughput", number_from_text(match["value"], line=number))
        elif match := _WALLTIME.match(stripped):
            figures.setdefault("walltime_s", number_from_text(match["value"], line=number))
        elif match := _GPU_TOTAL.match(stripped):
            figures.setdefault("gpu_total_s", number_from_text(match["value"], line=number))
        elif match := _QUERIES.match(stripped):
            figures["queries"] = int(match["count"])
        elif match := _ENGINE_TIME.match(stripped):
            figures.setdefault(f"engine_{match['what']}_s", number_from_text(match["s"], line=number))
        elif match := _PROFILE_TITLE.match(stripped):
            profiled_runs, profile_layout = int(match["count"]), "header"
        elif ": " in stripped and (key := stripped.partition(": ")[0]) in _OPTIONS:
            environment.setdefault(key, stripped.partition(": ")[2].strip())

    for metric in ("latency", "enqueue", "h2d", "compute", "d2h"):
        if f"old_{metric}" in summary and metric not in summary and "mean" in summary[f"old_{metric}"]:
            summary[metric] = summary[f"old_{metric}"]
    count = figures.get("queries")
    latency = _latency(summary.get("latency"), count)
    failed = state == "FAILED" or (bool(error_lines) and latency is None)
    if latency is None and not layers and not failed:
        raise ArtifactError(
            "no performance figures: expected a 'Latency: min = ...' line of the performance summary, "
            "a '=== Profile (N iterations ) ===' table or a trtexec failure",
            field="latency",
        )
    total_ms = sum(total for _, total, _ in layers)
    ops = []
    for name, total, average in layers:
        ops.append(
            OpProfile(
                name=name,
                op_type="",  # the table carries no layer type
                delegate=layer_delegate(name),
                accelerated=True,
                avg_ms=average,
                share=total / total_ms if total_ms > 0 else None,
            )
        )
    accelerated_fraction, delegate_summary = shares_by_delegate(ops)
    for key, figure in (("enqueue", "enqueue_ms"), ("h2d", "h2d_ms"), ("d2h", "d2h_ms")):
        if key in summary and "mean" in summary[key]:
            environment[f"{figure}_mean"] = f"{summary[key]['mean']:g}"
    for key in ("walltime_s", "gpu_total_s"):
        if key in figures:
            environment[f"total_{key}"] = f"{figures[key]:g}"
    init_s = figures.get("engine_deserialized_s", figures.get("engine_loaded_s", figures.get("engine_built_s")))
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        status="failed" if failed else "done",
        error=error_lines[0] if failed and error_lines else ("trtexec reported FAILED" if failed else ""),
        error_lines=list(dict.fromkeys(error_lines)) if failed else [],
        init_ms=init_s * 1000 if init_s is not None else None,
        latency=latency,
        compute_latency=_latency(summary.get("compute"), count),
        throughput_per_s=figures.get("throughput") if figures.get("throughput") else None,
        wall_time_ms=figures["walltime_s"] * 1000 if "walltime_s" in figures else None,
        accelerated_fraction=1.0 if latency is not None and not ops else accelerated_fraction,
        delegates=["TensorRT"],
        delegate_summary=delegate_summary,
        ops=ops,
        profiled_runs=profiled_runs if ops else None,
        runtime_version=version,
        environment=environment,
    )
