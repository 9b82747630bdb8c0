"""The coverage-gap report: the fleet's active pairs without a matching lab run, ranked by devices affected.

One read (labfield.coverage.lab_coverage, the home card's definition) plus three catalog queries for the names,
whatever the number of gaps. The page, the CSV export and the API show these rows with the same numbers.
"""

from dataclasses import dataclass

from compat.models import Delegate, DeviceModel, ModelVersion
from telemetry.kpi.scope import Scope

from .coverage import LabCoverage, lab_coverage

CSV_HEADER = (
    "rank", "model", "model_version", "device_model", "vendor", "devices", "device_share", "sessions", "fleet_paths",
)  # fmt: skip


@dataclass(frozen=True)
class FleetPathRow:
    runtime: str
    delegate: str
    sessions: int

    @property
    def name(self) -> str:
        return f"{self.runtime}/{self.delegate}"


@dataclass(frozen=True)
class CoverageGapRow:
    """One uncovered pair with its names: what the lab should benchmark, and on which runtime/delegate."""

    rank: int
    model: str
    model_version: str
    device_model: str
    device_model_name: str
    vendor: str
    devices: int
    device_share: float | None  # devices ÷ the device-pairs of every active pair (the home card's denominator)
    sessions: int
    paths: tuple[FleetPathRow, ...]  # the (runtime, delegate) the fleet runs, most sessions first

    @property
    def fleet_paths(self) -> str:
        return "; ".join(f"{path.name} ({path.sessions})" for path in self.paths)


@dataclass(frozen=True)
class CoverageReport:
    coverage: LabCoverage
    gaps: list[CoverageGapRow]


def coverage_report_get(*, scope: Scope) -> CoverageReport:
    """The gaps of the scope's range and filters (≤ 8 queries: lab_coverage, then model versions, devices, delegates)."""
    coverage = lab_coverage(start=scope.time_range.start, end=scope.time_range.end, filters=scope.filters)
    if not coverage.gaps:
        return CoverageReport(coverage, [])
    versions = ModelVersion.objects.select_related("ml_model").in_bulk({g.model_version_id for g in coverage.gaps})
    devices = DeviceModel.objects.in_bulk({g.device_model_id for g in coverage.gaps})
    delegates = Delegate.objects.select_related("runtime").in_bulk(
        {path.delegate_id for gap in coverage.gaps for path in gap.paths}
    )
    rows = []
    for rank, gap in enumerate(coverage.gaps, start=1):
        version, device = versions[gap.model_version_id], devices[gap.device_model_id]
        rows.append(
            CoverageGapRow(
                rank=rank, model=version.ml_model.slug, model_version=version.version, device_model=device.slug,
                device_model_name=device.name, vendor=device.vendor, devices=gap.devices,
                device_share=gap.devices / coverage.devices if coverage.devices else None, sessions=gap.sessions,
                paths=tuple(
                    FleetPathRow(delegates[p.delegate_id].runtime.slug, delegates[p.delegate_id].slug, p.sessions)
                    for p in gap.paths
                ),
            )
        )  # fmt: skip
    return CoverageReport(coverage, rows)


def csv_row(row: CoverageGapRow) -> list:
    share = "" if row.device_share is None else round(row.device_share, 4)
    return [
        row.rank, row.model, row.model_version, row.device_model, row.vendor, row.devices, share, row.sessions,
        row.fleet_paths,
    ]  # fmt: skip
