"""OpenVINO `benchmark_app` (C++ and Python) console report, and its per-layer counters CSV.

Console lines follow openvinotoolkit/openvino `samples/cpp/benchmark_app/main.cpp` and
`tools/benchmark_tool/openvino/tools/benchmark/main.py` (2022.1 to current), plus the 2019-2021 wording:
- `Read model took X ms` (older `Read network took`) -> model_load_ms; `Compile model took X ms` (older
  `Load network took` / `Load model took`) -> init_ms: compiling for the device is the init time;
- `First inference took X ms`; `Count: N iterations`; `Duration: X ms` -> wall_time_ms;
- `Latency:` then `Median:` (or `N percentile:` with -latency_percentile, `LatencyMetrics::write_to_slog` in
  statistics_report.cpp), `Average:`, `Min:`, `Max:` (2022.1 printed `AVG`, `MIN`, `MAX`); before 2022 a single
  `Latency: X ms`, the median; `Throughput: X FPS`;
- `Execution Devices: [...]`, `PERFORMANCE_HINT`, `NUM_STREAMS`, `OPTIMAL_NUMBER_OF_INFER_REQUESTS` and the
  step-10 line `(Start inference asynchronously, N inference requests ...)` -> environment (nireq, hint, devices);
- `Build ... 2024.1.0-15008-...` (older `API version ... 2.1.2020.4.0-...`) -> the OpenVINO version.
Per-group latencies (`Latency for each data shape group`) are not the run's and are skipped. `[ ERROR ]` lines
(benchmark_app prints its exception there and exits) make a failed run when no throughput was printed.

Counters CSV (`-report_type average_counters | detailed_counters | sort_detailed_counters`,
`StatisticsReport::dump_performance_counters_request`): `;`-separated blocks with the header
`layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms)` ending in a `Total` row; the detailed
report has one block per infer request, averaged per layer here. The CSV does not name the device, so the
delegate of its layers is unknown and no accelerated fraction is derived from them.
"""

from __future__ import annotations

import re
from collections import defaultdict

from benchmarks.importers.base import (
    ArtifactError,
    ImportedRun,
    LatencySummary,
    OpProfile,
    Sniff,
    decode_text,
    number_from_text,
)

SOURCE_FORMAT = "openvino_benchmark_app"
_PREFIX = re.compile(r"^\[ (?P<level>INFO|WARNING|ERROR|DEBUG) \] ?")
_TIMES = {
    "model_load_ms": re.compile(r"^Read (?:model|network) took (?P<v>\S+) ms$"),
    "init_ms": re.compile(r"^(?:Compile model|Load network|Load model) took (?P<v>\S+) ms$"),
    "first_inference_ms": re.compile(r"^First inference took (?P<v>\S+) ms$"),
    "wall_time_ms": re.compile(r"^Duration:\s+(?P<v>\S+) ms$"),
    "throughput_per_s": re.compile(r"^Throughput:\s+(?P<v>\S+) FPS$"),
    "count": re.compile(r"^Count:\s+(?P<v>\d+) iterations$"),
    "latency_median": re.compile(r"^Latency:\s+(?P<v>\S+) ms$"),
}
_LATENCY_ROW = re.compile(r"^(?P<key>Median|Average|AVG|Min|MIN|Max|MAX|(?P<p>\d+) percentile):\s+(?P<v>\S+) ms$")
_LATENCY_KEYS = {"Median": "p50_ms", "Average": "mean_ms", "AVG": "mean_ms", "Min": "min_ms", "MIN": "min_ms",
                 "Max": "max_ms", "MAX": "max_ms"}  # fmt: skip
_DEVICES = re.compile(r"^Execution Devices:\s*(?P<v>.+)$")
_NIREQ = re.compile(r"\(Start inference (?:a)?synch?ronously, (?P<n>\d+) inference requests?")
_PROPERTY = re.compile(r"^(?P<key>PERFORMANCE_HINT|NUM_STREAMS|OPTIMAL_NUMBER_OF_INFER_REQUESTS|INFERENCE_PRECISION_HINT"
                       r"|INFERENCE_NUM_THREADS|NETWORK_NAME): (?P<v>.*)$")  # fmt: skip
_HINT_WARNING = re.compile(r"performance hint will be set to (?:PerformanceMode\.)?(?P<v>[A-Z_]+)")
_BUILD = re.compile(r"(?:Build|API version)\s*\.+\s*(?:\d+\.\d+\.)?(?P<v>20\d\d\.\d+(?:\.\d+)?)")
_CSV_HEADER = "layerName;execStatus;layerType;execType;realTime (ms);cpuTime (ms)"


def sniff(text: str) -> Sniff:
    """Whether the text is a benchmark_app report (or its counters CSV), and which OpenVINO version it names."""
    if _CSV_HEADER in text:
        return Sniff(score=20)
    markers = ("Dumping statistics report", "[Step 1/11]", "benchmark_app", "Compile model took", "Load network took",
               "OpenVINO", "Inference Engine")  # fmt: skip
    found = [marker for marker in markers if marker in text]
    if re.search(r"^\s*(?:\[ INFO \] )?Count:\s+\d+ iterations\s*$", text, re.M) and re.search(
        r"^\s*(?:\[ INFO \] )?Throughput:\s+\S+ FPS\s*$", text, re.M
    ):
        found.append("summary")  # only the statistics report was pasted
    if not found or not re.search(r"Throughput:\s+\S+ FPS|\[ ERROR \]|\[Step \d+/11\]", text):
        return Sniff(score=0, reason="no '[Step N/11]' progress lines and no 'Throughput: X FPS' line of benchmark_app")
    build = _BUILD.search(text)
    return Sniff(score=10 + len(found), version=build["v"] if build else None)


def _parse_counters(text: str) -> ImportedRun:
    blocks: list[list[tuple[str, str, str, float]]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        cells = [cell.strip() for cell in raw.rstrip("\r").rstrip(";").split(";")]
        if not raw.strip():
            continue
        if raw.startswith(_CSV_HEADER):
            blocks.append([])
            continue
        if not blocks:
            raise ArtifactError(f"expected the counters header {_CSV_HEADER!r}", line=number)
        if cells[0] == "Total":
            continue
        if len(cells) < 6:
            raise ArtifactError(f"counters row has {len(cells)} fields, expected 6", line=number)
        blocks[-1].append((cells[0], cells[1], cells[2], number_from_text(cells[4], line=number)))
    layer_times: dict[str, float] = defaultdict(float)
    layer_types: dict[str, str] = {}
    for block in blocks:
        for name, status, layer_type, real_ms in block:
            if status != "EXECUTED":
                continue
            layer_times[name] += real_ms / len(blocks)
            layer_types.setdefault(name, layer_type)
    if not layer_times:
        raise ArtifactError("the counters report has no EXECUTED layer", field="execStatus")
    total = sum(layer_times.values())
    ops = [
        OpProfile(
            name=name,
            op_type=layer_types[name],
            delegate="unknown",
            accelerated=False,
            avg_ms=time_ms,
            share=time_ms / total if total > 0 else None,
        )  # fmt: skip
        for name, time_ms in layer_times.items()
    ]
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        ops=ops,
        profiled_runs=None,
        accelerated_from_ops=False,
        environment={"report": "detailed_counters" if len(blocks) > 1 else "average_counters"},
    )


def parse(data: bytes | str) -> ImportedRun:
    """Read a benchmark_app report (console output or counters CSV) into an ImportedRun."""
    text = decode_text(data)
    if _CSV_HEADER in text:
        return _parse_counters(text)
    figures: dict[str, float] = {}
    latency: dict[str, float] = {}
    environment: dict[str, str] = {}
    errors: list[str] = []
    devices: list[str] = []
    version = None
    in_latency = grouped = False
    for number, raw in enumerate(text.splitlines(), start=1):
        raw = raw.strip()  # pasted reports are often indented (notebook and docs outputs)
        prefix = _PREFIX.match(raw)
        level = prefix["level"] if prefix else None
        line = (raw[prefix.end() :] if prefix else raw).strip()
        if level == "ERROR":
            errors.append(line)
            continue
        if version is None and (match := _BUILD.search(line)):
            version = match["v"]
        if line.startswith("Latency for each data shape group"):
            grouped, in_latency = True, False
            continue
        if line == "Latency:":
            in_latency = not grouped and not latency
            continue
        if in_latency and (match := _LATENCY_ROW.match(line)):
            key = f"p{match['p']}_ms" if match["p"] else _LATENCY_KEYS[match["key"]]
            latency[key] = number_from_text(match["v"], line=number)
            continue
        in_latency = False
        for key, pattern in _TIMES.items():
            if match := pattern.match(line):
                figures.setdefault(key, number_from_text(match["v"], line=number))
                break
        else:
            if match := _DEVICES.match(line):
                devices = re.findall(r"[A-Z]+(?:\.[\w]+)?", match["v"])
                environment["execution_devices"] = ", ".join(devices)
            elif match := _PROPERTY.match(line):
                environment.setdefault(match["key"].lower(), match["v"].removeprefix("PerformanceMode."))
            elif match := _HINT_WARNING.search(line):
                environment.setdefault("performance_hint", match["v"])
            if match := _NIREQ.search(line):
                environment["nireq"] = match["n"]
    if "latency_median" in figures and "p50_ms" not in latency:
        latency["p50_ms"] = figures["latency_median"]
    throughput = figures.get("throughput_per_s")
    failed = bool(errors) and throughput is None
    if not latency and throughput is None and not failed:
        raise ArtifactError(
            "no performance figures: expected benchmark_app's 'Latency:' block or a 'Throughput: X FPS' line",
            field="latency",
        )
    count = figures.get("count")
    summary = LatencySummary(count=int(count) if count is not None else None, **latency) if latency else None
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        status="failed" if failed else "done",
        error=errors[0] if failed else "",
        error_lines=errors if failed else [],
        init_ms=figures.get("init_ms"),
        model_load_ms=figures.get("model_load_ms"),
        first_inference_ms=figures.get("first_inference_ms"),
        latency=summary,
        throughput_per_s=throughput,
        wall_time_ms=figures.get("wall_time_ms"),
        delegates=devices,
        runtime_version=version,
        environment=environment,
    )
