"""Reads for the matrix, the cell page, the changes page and the export.

The matrix is built from one `.values_list()` query over the cells (no query per cell), aggregated to the best
status per (row, column) in Python, and rendered to row HTML strings here: a Django template loop over ~9,000
cells is the slow part of the page, a Python string join is not.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .models import (
    CompatEntry,
    CompatEvidence,
    CompatStatus,
    Delegate,
    DeviceModel,
    ModelVersion,
    RuntimeVersion,
    Tier,
)
from .panels import CellMark, CoverageState, MatrixCoverage, MatrixOverlay, matrix_coverage_get, matrix_overlay_get
from .status import STATUS_RANK

# Colour always comes with a glyph and a word (colour-blind safe).
STATUS_GLYPHS = {
    CompatStatus.SUPPORTED: "✔",
    CompatStatus.DEGRADED: "▲",
    CompatStatus.UNSUPPORTED: "✖",
    CompatStatus.UNTESTED: "?",
}
STATUS_LABELS = dict(CompatStatus.choices)
GROUP_BY_CHOICES = (("vendor", "Vendor"), ("tier", "Tier"), ("os", "OS"))
PIVOT_CHOICES = (("devices", "Model versions × device models"), ("runtimes", "Device models × runtimes (one version)"))

_CELL_COLUMNS = (
    "id",
    "model_version_id",
    "device_model_id",
    "runtime_version_id",
    "delegate_id",
    "derived_status",
    "override_status",
    "p95_latency_ms",
    "latency_budget_ms",
    "crash_free_sessions",
    "accelerated_fraction",
    "sample_size",
)


@dataclass
class Column:
    key: int | tuple
    label: str
    title: str
    group: str


@dataclass
class Matrix:
    """A rendered matrix: column groups for the header, row HTML per row group, and counts for the summary."""

    columns: list[Column]
    column_groups: list[tuple[str, int]]
    row_groups: list[tuple[str, list[SafeString]]]
    status_counts: dict[str, int] = field(default_factory=dict)  # cells with a compat entry, by status
    cell_count: int = 0
    entry_count: int = 0
    empty_count: int = 0  # cells without a compat entry: no evidence of any kind
    coverage: MatrixCoverage | None = None
    coverage_counts: dict[str, int] = field(default_factory=dict)  # every cell, by coverage state (sums to cells)
    overlay: MatrixOverlay | None = None  # ?overlay=<name> (compat/panels.py): marks of the cells with an entry

    @property
    def row_count(self) -> int:
        return sum(len(rows) for _, rows in self.row_groups)

    @property
    def coverage_rows(self) -> list[tuple[str, str, int]]:
        """(state, label, cells) in legend order, for the summary."""
        return [(state, COVERAGE_LABELS[state], count) for state, count in self.coverage_counts.items()]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


COVERAGE_LABELS = dict(CoverageState.choices)
# The state a cell shows with a glyph as well as a class (colour-blind safe): the gap the lab should close.
COVERAGE_MARKERS = {CoverageState.FLEET_NO_LAB: '<sup class="cov">◇</sup>'}


def _cell_html(
    cell: tuple | None, paths: int, path_names: dict, cell_url: str, state: str | None = None,
    mark: CellMark | None = None,
) -> str:  # fmt: skip
    coverage = f" cov-{state}" if state else ""
    coverage_title = f" · {COVERAGE_LABELS[state]}" if state else ""
    if mark is not None:
        coverage, coverage_title = f"{coverage} {mark.css_class}", f"{coverage_title} · {mark.title}"
    if cell is None:
        marker = "◇" if state == CoverageState.FLEET_NO_LAB else "·"
        return f'<td class="c s-none{coverage}" title="No compat evidence{coverage_title}">{marker}</td>'
    (entry_id, _, _, rv_id, delegate_id, derived, override, p95, budget, crash_free, accel, samples) = cell
    status = override or derived
    latency = "–" if p95 is None else f"{p95:.0f} ms"
    if budget is not None:
        latency += f" (budget {budget:.0f})"
    title = (
        f"{STATUS_LABELS[status]}{' (override; derived: ' + STATUS_LABELS[derived] + ')' if override else ''}"
        f" · best of {paths} path{'s' if paths != 1 else ''}: {path_names[(rv_id, delegate_id)]}"
        f" · p95 {latency} · crash-free {_pct(crash_free)} · accelerated {_pct(accel)} · n={samples}{coverage_title}"
    )
    marker = ('<sup class="ov">*</sup>' if override else "") + COVERAGE_MARKERS.get(state, "")
    if mark is not None and mark.marker:
        marker += f'<sup class="mk">{escape(mark.marker)}</sup>'
    return (
        f'<td class="c s-{status}{coverage}" title="{escape(title)}"><a href="{cell_url}{entry_id}/" '
        f'aria-label="{STATUS_LABELS[status]}">{STATUS_GLYPHS[status]}{marker}</a></td>'
    )


def _best_cells(cells: Iterable[tuple], row_index: int, column_key) -> tuple[dict, dict]:
    """Best cell and path count per (row key, column key)."""
    best: dict[tuple, tuple] = {}
    paths: dict[tuple, int] = defaultdict(int)
    rank = STATUS_RANK
    for cell in cells:
        key = (cell[row_index], column_key(cell))
        paths[key] += 1
        current = best.get(key)
        if current is None or rank[cell[6] or cell[5]] < rank[current[6] or current[5]]:
            best[key] = cell
    return best, paths


def _path_names() -> dict[tuple[int, int], str]:
    runtime_versions = {rv.id: rv for rv in RuntimeVersion.objects.select_related("runtime")}
    names = {}
    for delegate in Delegate.objects.all():
        for rv in runtime_versions.values():
            if rv.runtime_id == delegate.runtime_id:
                names[(rv.id, delegate.id)] = f"{rv.runtime.slug} {rv.version}/{delegate.slug}"
    return names


def _device_group(device: DeviceModel, group_by: str) -> str:
    if group_by == "tier":
        return Tier(device.tier).label
    if group_by == "os":
        return device.get_os_family_display()
    return device.vendor


def _grouped(columns: list[Column]) -> list[tuple[str, int]]:
    groups: list[tuple[str, int]] = []
    for column in columns:
        if groups and groups[-1][0] == column.group:
            groups[-1] = (column.group, groups[-1][1] + 1)
        else:
            groups.append((column.group, 1))
    return groups


def matrix_get(
    *,
    entries: QuerySet[CompatEntry],
    model_versions: QuerySet[ModelVersion],
    device_models: QuerySet[DeviceModel],
    group_by: str = "vendor",
    prune_empty: bool = False,
    with_coverage: bool = True,
    overlay: str = "",
) -> Matrix:
    """Model versions (grouped by model) × device models (grouped by vendor/tier/OS); best status over paths.

    Status counts cover the cells with a compat entry; coverage counts (compat/panels.py) cover every cell shown.
    """
    cells = list(entries.order_by().values_list(*_CELL_COLUMNS))
    versions = list(model_versions.select_related("ml_model").order_by("ml_model__name", "ml_model_id", "version"))
    devices = sorted(device_models, key=lambda d: (_device_group(d, group_by), d.vendor, d.name))
    best, paths = _best_cells(cells, 1, lambda cell: cell[2])
    if prune_empty:
        used_rows, used_columns = {key[0] for key in best}, {key[1] for key in best}
        versions = [v for v in versions if v.id in used_rows]
        devices = [d for d in devices if d.id in used_columns]
    columns = [
        Column(d.id, d.name, f"{d.vendor} {d.name} · {d.soc} · tier {d.tier}", _device_group(d, group_by))
        for d in devices
    ]
    row_groups: list[tuple[str, list[SafeString]]] = []
    path_names = _path_names()
    cell_url = reverse("compat:matrix") + "cell/"
    column_ids = [column.key for column in columns]
    status_counts: dict[str, int] = defaultdict(int)
    coverage = matrix_coverage_get(evidenced=set(best)) if with_coverage else None
    states = coverage.states if coverage else {}
    coverage_counts: dict[str, int] = defaultdict(int)
    marks = _overlay(overlay, best, versions, column_ids)
    for version in versions:
        row_cells = [best.get((version.id, column_id)) for column_id in column_ids]
        row_states = [states.get((version.id, column_id), CoverageState.NO_EVIDENCE) for column_id in column_ids]
        for cell, state in zip(row_cells, row_states, strict=True):
            if cell:
                status_counts[cell[6] or cell[5]] += 1
            coverage_counts[state] += 1
        # The version links to its release-readiness page by URL (compat never imports the readiness app).
        release_url = f"/releases/{quote(version.ml_model.slug)}/{quote(version.version, safe='')}/"
        header = (
            f'<th class="rh" scope="row" title="{escape(version.ml_model.name)} {escape(version.version)}">'
            f'<a href="{escape(release_url)}" aria-label="Release readiness of {escape(version.ml_model.name)} '
            f'{escape(version.version)}">{escape(version.version)}</a> <small>{version.precision}</small></th>'
        )
        html = "".join(
            _cell_html(
                cell,
                paths.get((version.id, cid), 0),
                path_names,
                cell_url,
                state if coverage else None,
                marks.marks.get((cell[1], cell[3], cell[4], cell[2])) if marks and cell else None,
            )
            for cell, cid, state in zip(row_cells, column_ids, row_states, strict=True)
        )
        if not row_groups or row_groups[-1][0] != version.ml_model.name:
            row_groups.append((version.ml_model.name, []))
        row_groups[-1][1].append(mark_safe(f"<tr>{header}{html}</tr>"))  # noqa: S308 - every value escaped above
    return Matrix(
        columns=columns,
        column_groups=_grouped(columns),
        row_groups=row_groups,
        status_counts=dict(status_counts),
        cell_count=len(versions) * len(columns),
        entry_count=len(cells),
        empty_count=len(versions) * len(columns) - sum(status_counts.values()),
        coverage=coverage,
        coverage_counts={state: coverage_counts[state] for state in CoverageState.values} if coverage else {},
        overlay=marks,
    )


def _overlay(name: str, best: dict, versions: list, column_ids: list) -> MatrixOverlay | None:
    """The named overlay's marks for the compat cells shown (each matrix cell's best path), read once for all."""
    if not name:
        return None
    rows, columns = {version.id for version in versions}, set(column_ids)
    shown = [(c[1], c[3], c[4], c[2]) for (row, column), c in best.items() if row in rows and column in columns]
    return matrix_overlay_get(name=name, cells=shown)


def matrix_by_runtime_get(
    *, entries: QuerySet[CompatEntry], model_version: ModelVersion, device_models: QuerySet[DeviceModel]
) -> Matrix:
    """The pivot for one model version: device models (rows) × runtime version/delegate (columns)."""
    cells = list(entries.filter(model_version=model_version).order_by().values_list(*_CELL_COLUMNS))
    path_names = _path_names()
    pairs = sorted({(cell[3], cell[4]) for cell in cells}, key=lambda pair: path_names.get(pair, ""))
    runtime_versions = RuntimeVersion.objects.select_related("runtime").in_bulk({rv for rv, _ in pairs})
    columns = [
        Column(
            pair,
            path_names[pair].split("/")[-1],
            path_names[pair],
            f"{runtime_versions[pair[0]].runtime.slug} {runtime_versions[pair[0]].version}",
        )
        for pair in pairs
    ]
    best, paths = _best_cells(cells, 2, lambda cell: (cell[3], cell[4]))
    devices = sorted(device_models, key=lambda d: (d.vendor, d.name))
    cell_url = reverse("compat:matrix") + "cell/"
    rows: dict[str, list[SafeString]] = defaultdict(list)
    status_counts: dict[str, int] = defaultdict(int)
    for device in devices:
        row_cells = [best.get((device.id, column.key)) for column in columns]
        if not any(row_cells):
            continue
        for cell in filter(None, row_cells):
            status_counts[cell[6] or cell[5]] += 1
        header = f'<th class="rh" scope="row">{escape(device.name)} <small>{escape(device.soc)}</small></th>'
        html = "".join(_cell_html(cell, 1, path_names, cell_url) for cell in row_cells)
        rows[device.vendor].append(mark_safe(f"<tr>{header}{html}</tr>"))  # noqa: S308 - values escaped
    row_groups = list(rows.items())
    cell_count = sum(len(r) for _, r in row_groups) * len(columns)
    return Matrix(
        columns=columns,
        column_groups=_grouped(columns),
        row_groups=row_groups,
        status_counts=dict(status_counts),
        cell_count=cell_count,
        entry_count=len(cells),
        empty_count=cell_count - sum(status_counts.values()),
    )


def entry_detail_get(*, entry_id: int) -> CompatEntry:
    """One cell with its catalog rows, evidence and history loaded (a fixed number of queries)."""
    return (
        CompatEntry.objects.select_related(
            "model_version__ml_model", "runtime_version__runtime", "delegate", "device_model", "override_by"
        )
        .prefetch_related("evidence", "history__changed_by")
        .get(pk=entry_id)
    )


def entry_siblings_list(*, entry: CompatEntry) -> list[CompatEntry]:
    """The other runtime/delegate paths of the same model version on the same device model."""
    return list(
        CompatEntry.objects.filter(model_version_id=entry.model_version_id, device_model_id=entry.device_model_id)
        .exclude(pk=entry.pk)
        .select_related("runtime_version__runtime", "delegate")
        .order_by("runtime_version__runtime__slug", "runtime_version__version", "delegate__slug")
    )


EXPORT_FIELDS = (
    "entry_id",
    "model",
    "model_version",
    "precision",
    "runtime",
    "runtime_version",
    "delegate",
    "delegate_kind",
    "device_model",
    "vendor",
    "tier",
    "os",
    "status",
    "derived_status",
    "override_status",
    "derived_reason",
    "override_reason",
    "p95_latency_ms",
    "latency_budget_ms",
    "crash_free_sessions",
    "accelerated_fraction",
    "sample_size",
    "evidence_updated_at",
    "known_issues",
)


def export_rows(*, entries: QuerySet[CompatEntry]) -> Iterable[dict]:
    """One flat dict per cell for CSV/JSON export (one query, streamed)."""
    rows = entries.order_by("model_version__ml_model__slug", "model_version__version", "device_model__slug").values(
        "id",
        "model_version__ml_model__slug",
        "model_version__version",
        "model_version__precision",
        "runtime_version__runtime__slug",
        "runtime_version__version",
        "delegate__slug",
        "delegate__kind",
        "device_model__slug",
        "device_model__vendor",
        "device_model__tier",
        "device_model__os_family",
        "derived_status",
        "override_status",
        "derived_reason",
        "override_reason",
        "p95_latency_ms",
        "latency_budget_ms",
        "crash_free_sessions",
        "accelerated_fraction",
        "sample_size",
        "evidence_updated_at",
        "known_issues",
    )
    for row in rows.iterator(chunk_size=2000):
        values = list(row.values())
        out = dict(zip(EXPORT_FIELDS[:12], [values[0], *values[1:12]], strict=True))
        out["model_version"] = f"{row['model_version__ml_model__slug']}@{row['model_version__version']}"
        out["runtime_version"] = f"{row['runtime_version__runtime__slug']}@{row['runtime_version__version']}"
        out["delegate"] = f"{row['runtime_version__runtime__slug']}/{row['delegate__slug']}"
        out["status"] = row["override_status"] or row["derived_status"]
        for name in EXPORT_FIELDS[13:]:
            out[name] = row[name]
        evidence_at = out["evidence_updated_at"]
        out["evidence_updated_at"] = evidence_at.isoformat() if evidence_at else None
        yield out


def evidence_for_entry(entry: CompatEntry) -> list[CompatEvidence]:
    """Evidence of a cell, newest first (from the prefetch when present)."""
    return sorted(entry.evidence.all(), key=lambda e: e.recorded_at, reverse=True)
