"""ONNX Runtime profiling JSON (`SessionOptions.enable_profiling`): Chrome trace events, `dur` and `ts` in us.

- init_ms: the `session_initialization` event; model_load_ms: `model_loading_uri` / `model_loading_array`.
- latency: every `model_run` event is one inference; the summary covers all of them (count = runs in
  the file) with nearest-rank percentiles, and the earliest one is also first_inference_ms.
- throughput: runs / (end of the last run - start of the first), the observed rate including gaps.
- ops: `<node>_kernel_time` events (cat "Node") with `args.provider` and `args.op_name`, summed per node
  (`onnxruntime/core/common/profiler.cc`, `sequential_executor.cc`; DirectML and other providers write these
  events without `args`, ORT 0.x without `provider`: then the provider is "unknown", not accelerated, and the
  run has no accelerated fraction):
  avg_ms = node time / runs, share = node time / all kernel time, calls = events / runs.
  accelerated_fraction = kernel time on providers other than the CPU one / all kernel time.
Accepts the bare array ORT writes and the `{"traceEvents": [...]}` object form; other events and fields
are ignored.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from benchmarks.importers.base import (
    CPU_DELEGATES,
    ArtifactError,
    ImportedRun,
    OpProfile,
    decode_text,
    load_json,
    number_from_json,
    shares_by_delegate,
    summarize_samples,
)

SOURCE_FORMAT = "onnxruntime_profile"
_KERNEL_SUFFIX = "_kernel_time"
_MODEL_LOAD_EVENTS = ("model_loading_uri", "model_loading_array")
UNKNOWN_PROVIDER = "unknown"


def _events(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("traceEvents"), list):
        return document["traceEvents"]
    raise ArtifactError("expected a JSON array of trace events or an object with a 'traceEvents' array", field="$")


def _text(event: dict[str, Any], key: str, path: str) -> str:
    value = event.get(key)
    if not isinstance(value, str):
        raise ArtifactError("expected a string", field=f"{path}.{key}")
    return value


def parse(data: bytes | str) -> ImportedRun:
    """Read an ONNX Runtime profile into an ImportedRun."""
    events = _events(load_json(decode_text(data)))
    runs: list[tuple[float, float]] = []  # (ts_us, dur_us)
    session_us: dict[str, float] = {}
    kernel_us: dict[str, float] = defaultdict(float)
    kernel_calls: dict[str, int] = defaultdict(int)
    node_info: dict[str, tuple[str, str]] = {}  # node -> (op type, provider)
    for index, event in enumerate(events):
        path = f"[{index}]"
        if not isinstance(event, dict):
            raise ArtifactError("expected a trace event object", field=path)
        name, category = event.get("name"), event.get("cat")
        if not isinstance(name, str):
            continue
        if category == "Session" and name == "model_run":
            ts = number_from_json(event.get("ts"), field=f"{path}.ts")
            runs.append((ts, number_from_json(event.get("dur"), field=f"{path}.dur")))
        elif category == "Session" and (name == "session_initialization" or name in _MODEL_LOAD_EVENTS):
            session_us.setdefault(name, number_from_json(event.get("dur"), field=f"{path}.dur"))
        elif category == "Node" and name.endswith(_KERNEL_SUFFIX):
            args = event.get("args", {})
            if not isinstance(args, dict):
                raise ArtifactError("expected an object with provider and op_name", field=f"{path}.args")
            # DirectML and other providers write kernel events without args (and ORT 0.x without provider):
            # the node is read, its provider and type are unknown.
            provider = _text(args, "provider", f"{path}.args") if "provider" in args else UNKNOWN_PROVIDER
            op_type = _text(args, "op_name", f"{path}.args") if "op_name" in args else ""
            node = name.removesuffix(_KERNEL_SUFFIX) or f"{op_type or 'node'}#{args.get('node_index', index)}"
            kernel_us[node] += number_from_json(event.get("dur"), field=f"{path}.dur")
            kernel_calls[node] += 1
            node_info.setdefault(node, (op_type, provider))
    if not runs:
        raise ArtifactError("no 'model_run' events: the profile holds no inference run", field="model_run")

    runs.sort()
    samples_ms = [dur / 1000 for _, dur in runs]
    span_us = max(ts + dur for ts, dur in runs) - runs[0][0]
    total_kernel_us = sum(kernel_us.values())
    ops = []
    for node, time_us in kernel_us.items():
        op_type, provider = node_info[node]
        ops.append(
            OpProfile(
                name=node,
                op_type=op_type,
                delegate=provider,
                accelerated=provider not in CPU_DELEGATES and provider != UNKNOWN_PROVIDER,
                avg_ms=time_us / len(runs) / 1000,
                share=time_us / total_kernel_us if total_kernel_us > 0 else None,
                calls=kernel_calls[node] / len(runs),
            )
        )
    providers_known = all(provider != UNKNOWN_PROVIDER for _, provider in node_info.values())
    accelerated_fraction, delegate_summary = shares_by_delegate(ops)
    if not providers_known:
        accelerated_fraction = None
    model_load_us = next((session_us[name] for name in _MODEL_LOAD_EVENTS if name in session_us), None)
    init_us = session_us.get("session_initialization")
    return ImportedRun(
        source_format=SOURCE_FORMAT,
        init_ms=init_us / 1000 if init_us is not None else None,
        model_load_ms=model_load_us / 1000 if model_load_us is not None else None,
        first_inference_ms=samples_ms[0],
        latency=summarize_samples(samples_ms),
        throughput_per_s=len(runs) / span_us * 1e6 if span_us > 0 else None,
        wall_time_ms=span_us / 1000,
        accelerated_fraction=accelerated_fraction,
        delegates=sorted({provider for _, provider in node_info.values()} - {UNKNOWN_PROVIDER}),
        accelerated_from_ops=providers_known,
        delegate_summary=delegate_summary,
        ops=ops,
        profiled_runs=len(runs) if ops else None,
    )
