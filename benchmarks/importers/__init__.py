"""Native-format benchmark importers: pure functions from a runtime's own output to an ImportedRun."""

from benchmarks.importers.base import FORMATS, ArtifactError, ImportedRun, LatencySummary, OpProfile, parse_artifact

__all__ = ["FORMATS", "ArtifactError", "ImportedRun", "LatencySummary", "OpProfile", "parse_artifact"]
