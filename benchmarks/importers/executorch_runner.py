"""ExecuTorch `executor_runner` and the backend runners (`xnn_executor_runner`, `qnn_executor_runner`, ...).

Lines are ExecuTorch's `ET_LOG` output (runtime/platform/log.h): `I 00:00:00.382397 executorch:file.cpp:133] msg`,
the level letter, the time since the runtime started and the source location; Android logcat prefixes are removed.
What is read, following pytorch/executorch `examples/portable/executor_runner/executor_runner.cpp` and
`examples/qualcomm/executor_runner/qnn_executor_runner.cpp`:
- `Model file X is loaded.` -> model_load_ms (its timestamp: the program is parsed by then);
  `Method loaded.` -> init_ms (timestamp: program and method loaded, memory planned, backends initialised).
- `Model executed successfully N time(s) in X ms.` -> N runs, mean X / N (current executor_runner);
  `Model executed successfully N time(s).` or `... successfully.` (older) -> N runs (1 when not printed) timed
  by the log: the timestamp of that line minus the one of `Inputs prepared.`.
- qnn_executor_runner: `N inference took X ms, avg Y ms` once per input (N = --iteration runs each) and, when
  several inputs ran, a final line over all inputs (N = inputs). The per-input lines are the measurement:
  count = sum of N, mean = sum of X / count; with one run per input, each line is a per-inference sample.
- error-level (`E`/`F`) lines and the runtime's `... failed with status 0x..` / `assert failed` make a failed run.
"""

from __future__ import annotations

import re

from benchmarks.importers.base import (
    ArtifactError,
    ImportedRun,
    LatencySummary,
    Sniff,
    decode_text,
    number_from_text,
    summarize_samples,
)

SOURCE_FORMAT = "executorch_runner"
_LOGCAT = re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[^:]*?\s*: ?")
_ET_LOG = re.compile(
    r"^(?P<level>[DIWEF]) (?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?) executorch:(?P<where>[^\]]*)\] ?(?P<msg>.*)$"
)
_LOADED = re.compile(r"^Model file .* is loaded\.$")
_EXECUTED = re.compile(r"^Model executed successfully(?: (?P<n>\d+) time\(s\))?(?: in (?P<ms>\S+) ms)?\.?$")
_QNN_TOOK = re.compile(r"(?P<n>\d+) inference took (?P<total>\S+) ms, avg (?P<avg>\S+) ms")
_FAILURE = re.compile(r"failed with status|assert failed|Failed to |Aborted|Segmentation fault|\[ERROR\]")
_BACKENDS = (("Qnn", "QNN"), ("qnn_", "QNN"), ("xnn", "XNNPACK"), ("XNNPACK", "XNNPACK"), ("Vulkan", "Vulkan"),
             ("CoreML", "CoreML"), ("Mps", "MPS"), ("mps_", "MPS"), ("Ethos", "EthosU"))  # fmt: skip


def sniff(text: str) -> Sniff:
    """Whether the text is an ExecuTorch runner log."""
    if re.search(r"^(?:[^\n]*: )?[DIWEF] \d+:\d{2}:\d{2}\.\d+ executorch:", text, re.M):
        return Sniff(score=15)
    if _QNN_TOOK.search(text):
        return Sniff(score=11)
    return Sniff(score=0, reason="no ExecuTorch log line ('I 00:00:00.123456 executorch:...]') or 'N inference took'")


def parse(data: bytes | str) -> ImportedRun:
    """Read an ExecuTorch runner log into an ImportedRun."""
    stamps: dict[str, float] = {}
    executed: tuple[int, float | None] | None = None
    took: list[tuple[int, float, str]] = []  # (runs, total ms, source location) of each "N inference took"
    errors: list[str] = []
    backends: list[str] = []
    lines = decode_text(data).splitlines()
    for number, raw in enumerate(lines, start=1):
        line = _LOGCAT.sub("", raw.rstrip("\r"))
        match = _ET_LOG.match(line)
        message = match["msg"].strip() if match else line.strip()
        if match:
            at_ms = (int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])) * 1000
            if _LOADED.match(message):
                stamps.setdefault("loaded", at_ms)
            elif message == "Method loaded.":
                stamps.setdefault("method", at_ms)
            elif message == "Inputs prepared.":
                stamps.setdefault("inputs", at_ms)
            elif _EXECUTED.match(message):
                stamps.setdefault("executed", at_ms)
            if match["level"] in ("E", "F"):
                errors.append(message)
        elif _FAILURE.search(message):
            errors.append(message)
        for needle, backend in _BACKENDS:
            if needle in line and backend not in backends:
                backends.append(backend)
        if done := _EXECUTED.match(message):
            count = int(done["n"]) if done["n"] else 1
            executed = (count, number_from_text(done["ms"], line=number) if done["ms"] else None)
        elif qnn := _QNN_TOOK.search(message):
            took.append((int(qnn["n"]), number_from_text(qnn["total"], line=number), match["where"] if match else ""))

    latency = _latency(executed, took, stamps)
    failed = bool(errors) and (latency is None or any(_FAILURE.search(error) for error in errors))
    if latency is None and not failed:
        raise ArtifactError(
            "no timing: expected 'Model executed successfully N time(s) in X ms.', 'N inference took X ms, avg Y ms'"
            " or ExecuTorch log lines with timestamps for 'Inputs prepared.' and 'Model executed successfully'",
            field="latency",
        )
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        status="failed" if failed else "done",
        error=errors[0] if failed else "",
        error_lines=list(dict.fromkeys(errors)) if failed else [],
        init_ms=stamps.get("method"),
        model_load_ms=stamps.get("loaded"),
        latency=latency,
        throughput_per_s=1000 / latency.mean_ms if latency and latency.mean_ms else None,
        delegates=backends,
        accelerated_fraction=None,
    )


def _is_overall(inputs: list[tuple[int, float, str]], last: tuple[int, float, str]) -> bool:
    """Whether the last "N inference took" line is the runner's total over inputs (printed after the loop)."""
    if last[2] and inputs[-1][2]:
        return last[2] != inputs[-1][2]  # printed from another source line than the per-input ones
    per_input_runs = {n for n, _, _ in inputs}
    return last[0] == len(inputs) or (len(per_input_runs) == 1 and last[0] not in per_input_runs)


def _latency(
    executed: tuple[int, float | None] | None, took: list[tuple[int, float, str]], stamps: dict[str, float]
) -> LatencySummary | None:
    if took:
        inputs, overall = took, None
        if len(took) > 1 and _is_overall(took[:-1], took[-1]):
            inputs, overall = took[:-1], took[-1]
        iterations = inputs[0][0] if len({n for n, _, _ in inputs}) == 1 else None
        if overall is not None and iterations is not None:
            # N counts inputs, each run --iteration times; the log may hold only some per-input lines.
            count = overall[0] * iterations
            if count == 0:
                return None
            if iterations == 1 and len(inputs) == overall[0] > 1:
                samples = summarize_samples([total for _, total, _ in inputs])
                return LatencySummary(**{**samples.__dict__, "mean_ms": overall[1] / count})
            return LatencySummary(count=count, mean_ms=overall[1] / count)
        count = sum(n for n, _, _ in inputs)
        if count == 0:
            return None
        if iterations == 1 and len(inputs) > 1:
            return summarize_samples([total for _, total, _ in inputs])
        return LatencySummary(count=count, mean_ms=sum(total for _, total, _ in inputs) / count)
    if executed is None:
        return None
    count, total_ms = executed
    if total_ms is None and "executed" in stamps and "inputs" in stamps:
        total_ms = stamps["executed"] - stamps["inputs"]
    if total_ms is None or count == 0:
        return None
    return LatencySummary(count=count, mean_ms=total_ms / count)
