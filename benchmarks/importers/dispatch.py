"""Parse an uploaded artifact in a named format, or in the one recognised from its content ("auto").

Sits above the format modules and the detector (they import base; base imports none of them).
"""

from __future__ import annotations

from benchmarks.importers import (
    executorch_runner,
    onnxruntime_perf_test,
    onnxruntime_profile,
    openvino_benchmark_app,
    tflite_benchmark_model,
    trtexec,
    trtexec_log,
)
from benchmarks.importers.base import AUTO, FORMATS, ArtifactError, ImportedRun
from benchmarks.importers.detect import detect_format

PARSERS = {
    "tflite_benchmark_model": tflite_benchmark_model.parse,
    "onnxruntime_profile": onnxruntime_profile.parse,
    "trtexec_times": trtexec.parse_times,
    "trtexec_profile": trtexec.parse_profile,
    "onnxruntime_perf_test": onnxruntime_perf_test.parse,
    "trtexec_log": trtexec_log.parse,
    "openvino_benchmark_app": openvino_benchmark_app.parse,
    "executorch_runner": executorch_runner.parse,
}


def parse_artifact(*, source_format: str, data: bytes | str) -> ImportedRun:
    """Parse one uploaded artifact in the named native format, or in the one recognised when format is "auto"."""
    if source_format == AUTO:
        source_format = detect_format(data).source_format
    if source_format not in PARSERS:
        raise ArtifactError(
            f"unknown format {source_format!r}; expected one of {', '.join((AUTO, *FORMATS))}", field="format"
        )
    return PARSERS[source_format](data)
