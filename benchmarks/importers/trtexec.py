"""TensorRT `trtexec` JSON exports: `--exportTimes` (per-inference trace) and `--exportProfile` (per layer).

Times (what trtexec's sampleReporting.cpp exportJSONTrace writes, all in ms):
- one record per inference with `latencyMs` (H2D + GPU compute + D2H, trtexec's "Latency") and usually
  `computeMs` (its "GPU Compute Time"); TensorRT 7 names the stages startInMs/endOutMs, later versions
  startH2dMs/endD2hMs, and older versions also wrote `endToEndMs` and kept the warm-up queries in the
  file (current ones drop them; the file cannot tell which, so every record counts).
- latency: nearest-rank summary of `latencyMs`; compute_latency: of `computeMs` when every record has it.
- throughput: records / (latest transfer end - earliest transfer start), trtexec's "Total Host Walltime";
  in queries per second (a query is one enqueue, whatever its batch).
Profile (Profiler::exportJSONProfile): `[{"count": N}, {"name", "timeMs", "averageMs", "medianMs",
"percentage"}, ...]`; older versions have no `medianMs`. Each layer's avg_ms is its `averageMs`, share is
its `timeMs` over all layers' `timeMs`. Every layer of an engine is accelerated; a layer whose name says DLA
ran on the DLA (delegate "dla"), the others on the GPU. Names are kept whole: fused DLA/Myelin subgraph names
run to thousands of characters and can differ only at the end.
Unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any

from benchmarks.importers.base import (
    ArtifactError,
    ImportedRun,
    OpProfile,
    decode_text,
    load_json,
    number_from_json,
    shares_by_delegate,
    summarize_samples,
)
from benchmarks.importers.trtexec_log import layer_delegate

# (first stage start, last stage end) per TensorRT generation, newest first.
_SPANS = (("startH2dMs", "endD2hMs"), ("startInMs", "endOutMs"), ("startComputeMs", "endComputeMs"))
TENSORRT_DELEGATE = "gpu"


def _records(text: str, *, what: str) -> list[Any]:
    document = load_json(text)
    if not isinstance(document, list):
        raise ArtifactError(f"expected a JSON array ({what})", field="$")
    if not document:
        raise ArtifactError(f"empty array: no {what}", field="$")
    for index, record in enumerate(document):
        if not isinstance(record, dict):
            raise ArtifactError("expected an object", field=f"[{index}]")
    return document


def _span_ms(records: list[dict[str, Any]]) -> float | None:
    for start_key, end_key in _SPANS:
        if all(start_key in record and end_key in record for record in records):
            starts = [number_from_json(r[start_key], field=f"[{i}].{start_key}") for i, r in enumerate(records)]
            ends = [number_from_json(r[end_key], field=f"[{i}].{end_key}") for i, r in enumerate(records)]
            return max(ends) - min(starts)
    return None


def parse_times(data: bytes | str) -> ImportedRun:
    """Read a `trtexec --exportTimes` file into an ImportedRun."""
    records = _records(decode_text(data), what="inference records")
    latencies = [number_from_json(r.get("latencyMs"), field=f"[{i}].latencyMs") for i, r in enumerate(records)]
    compute = None
    if all("computeMs" in record for record in records):
        compute = [number_from_json(r["computeMs"], field=f"[{i}].computeMs") for i, r in enumerate(records)]
    span_ms = _span_ms(records)
    return ImportedRun(
        source_format="trtexec_times",
        latency=summarize_samples(latencies),
        compute_latency=summarize_samples(compute) if compute else None,
        throughput_per_s=len(records) / span_ms * 1000 if span_ms else None,
        wall_time_ms=span_ms,
        delegates=["TensorRT"],
    )


def parse_profile(data: bytes | str) -> ImportedRun:
    """Read a `trtexec --exportProfile` file into an ImportedRun."""
    records = _records(decode_text(data), what="profile: expected {'count': N} followed by layers")
    count = number_from_json(records[0].get("count"), field="[0].count")
    if not count.is_integer():
        raise ArtifactError(f"expected a whole number of iterations, got {count!r}", field="[0].count")
    layers = records[1:]
    if not layers:
        raise ArtifactError("the profile has no layers", field="[1]")
    total_ms = 0.0
    rows = []
    for index, layer in enumerate(layers, start=1):
        name = layer.get("name")
        if not isinstance(name, str):
            raise ArtifactError("expected a string", field=f"[{index}].name")
        time_ms = number_from_json(layer.get("timeMs"), field=f"[{index}].timeMs")
        average_ms = number_from_json(layer.get("averageMs"), field=f"[{index}].averageMs")
        total_ms += time_ms
        rows.append((name, time_ms, average_ms))
    ops = [
        OpProfile(
            name=name,
            op_type="",  # the export carries no layer type
            delegate=layer_delegate(name),
            accelerated=True,
            avg_ms=average_ms,
            share=time_ms / total_ms if total_ms > 0 else None,
        )
        for name, time_ms, average_ms in rows
    ]
    accelerated_fraction, delegate_summary = shares_by_delegate(ops)
    return ImportedRun(
        source_format="trtexec_profile",
        accelerated_fraction=accelerated_fraction if accelerated_fraction is not None else 1.0,
        delegates=["TensorRT"],
        delegate_summary=delegate_summary or {TENSORRT_DELEGATE: 1.0},
        ops=ops,
        profiled_runs=int(count),
    )
