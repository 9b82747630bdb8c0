"""Op-profiling tables of TFLite `benchmark_model` (--enable_op_profiling): rows in, OpProfile out.

The stats calculator prints, per profiled graph, "Run Order", "Top by Computation Time" and "Summary by
node type" tables: a "==== Title ====" line, a header of bracketed column names (or a CSV header when
--profiling_output_csv_file is used), then rows up to a blank line. In the per-node tables `[avg ms]` is
per call, so a node's time per run is avg x times called (older tools print 0 calls: then once); in
the by-type table `[avg ms]` is already the type's total per run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmarks.importers.base import ArtifactError, OpProfile, number_from_text

TABLE_TITLE = re.compile(r"^=+ (?P<title>.+?) =+$")
_AFTER_TABLE = (
    "Timings (microseconds)", "Memory (bytes)", "Number of nodes executed", "Delegate internal", "Primary graph",
    "Subgraph (index", "Operator-wise Profiling Info", "Profiling Info for",
)  # fmt: skip
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|[-+]?(?:nan|inf)%?"


@dataclass
class OpTable:
    """One printed table: its numeric columns and rows of (op type, values by column, node name)."""

    title: str
    counted: bool
    columns: list[str]
    is_csv: bool = False
    rows: list[tuple[str, dict[str, float], str]] = field(default_factory=list)


def header_columns(text: str, line: int) -> tuple[list[str], bool]:
    """The numeric columns of a table header and whether the table is CSV (--profiling_output_csv_file)."""
    names = re.findall(r"\[([^\]]+)\]", text)
    is_csv = not names and "," in text
    if is_csv:
        names = text.split(",")
    names = [name.strip().lower().replace("_", " ") for name in names]
    if len(names) < 2 or names[0] != "node type":
        raise ArtifactError("expected an op-profiling table header starting with [node type]", line=line)
    return [name for name in names[1:] if name != "name"], is_csv


def table_row(text: str, table: OpTable, line: int) -> tuple[str, dict[str, float], str]:
    """One row split into op type, its numbers by column and the node name (empty in by-type tables)."""
    if table.is_csv:
        parts = [part.strip() for part in text.split(",", len(table.columns) + 1)]
        op_type, tokens, name = parts[0], parts[1 : len(table.columns) + 1], ",".join(parts[len(table.columns) + 1 :])
        valid = len(tokens) == len(table.columns) and all(re.fullmatch(_NUMBER, token) for token in tokens)
    else:
        numbers = r"\s+".join(f"({_NUMBER})" for _ in table.columns)
        match = re.match(rf"^\s*(.*?\S)\s+{numbers}(?:\s+(.*?))?\s*$", text)
        valid = match is not None
        if match is not None:
            op_type, tokens, name = match[1], match.groups()[1:-1], match.groups()[-1] or ""
    if not valid:
        raise ArtifactError(f"op-profiling row does not have the {len(table.columns)} columns of its header", line=line)
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]  # 2019-2020 tools print the name column in brackets
    values = {
        column: number_from_text(token.rstrip("%"), line=line)
        for column, token in zip(table.columns, tokens, strict=True)
    }
    return op_type, values, name


def ends_table(text: str) -> bool:
    """A blank line ends a table; so do the lines that follow one, for logs that dropped blank lines."""
    return (
        not text or bool(TABLE_TITLE.match(text)) or text.startswith(_AFTER_TABLE) or text.endswith(" nodes observed")
    )


def _delegate_of(op_type: str, name: str) -> tuple[str, bool]:
    """Which delegate ran a profiled op, as the log names it, and whether that counts as accelerated."""
    lowered = op_type.lower()
    if "flex" in lowered:
        return "cpu", False  # the Flex delegate runs TensorFlow kernels on the CPU
    if "delegate" in lowered:
        return op_type, True  # a delegate kernel: TfLiteGpuDelegateV2, TfLiteXNNPackDelegate, DELEGATE, ...
    if name.startswith("Delegate/") or " " in op_type.strip():
        # An op profiled inside a delegate: the Run Order names it "Delegate/...", and its type is the
        # delegate's own operator name ("Convolution (NHWC, F32) GEMM"), never a TFLite op identifier.
        return "Delegate", True
    return "cpu", False


def ops_from_tables(tables: dict[str, OpTable]) -> list[OpProfile]:
    """Ops with their time per run from the Run Order table, else from the Summary by node type."""
    if run_order := tables.get("Run Order"):
        rows = [
            (op_type, name, values["avg ms"] * max(values.get("times called", 0), 1), values.get("times called"))
            for op_type, values, name in run_order.rows
        ]
    elif by_type := tables.get("Summary by node type"):
        # This table's [avg ms] is already the type's total time per run.
        rows = [(op_type, op_type, values["avg ms"], values.get("times called")) for op_type, values, _ in by_type.rows]
    else:
        return []
    total = sum(per_run for _, _, per_run, _ in rows)
    ops = []
    for op_type, name, per_run_ms, calls in rows:
        delegate, accelerated = _delegate_of(op_type, name)
        share = per_run_ms / total if total > 0 else None
        ops.append(
            OpProfile(
                name=name,
                op_type=op_type,
                delegate=delegate,
                accelerated=accelerated,
                avg_ms=per_run_ms,
                share=share,
                calls=calls or None,
            )
        )
    return ops
