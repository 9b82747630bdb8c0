"""What apps above compat add to its pages: sections of the cell page, the lab-coverage state of matrix cells, overlays.

compat may not import the apps that join it with telemetry and lab runs (tests/test_architecture.py), so such an app
registers a provider here from its AppConfig.ready(); the cell page renders each panel's template with its context,
the matrix marks each cell with its coverage state.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models

from .models import CompatEntry


@dataclass(frozen=True)
class CellPanel:
    """One section of the cell page: a template and what it reads (as `panel` in the template)."""

    template: str
    context: dict = field(default_factory=dict)


CellPanelProvider = Callable[[CompatEntry], CellPanel | None]
_providers: list[CellPanelProvider] = []


def cell_panel_register(provider: CellPanelProvider) -> None:
    """Adds a provider (idempotent: ready() may run twice in tests)."""
    if provider not in _providers:
        _providers.append(provider)


def cell_panels_get(*, entry: CompatEntry) -> list[CellPanel]:
    """The panels of one cell, in registration order (a provider returns None to show nothing)."""
    return [panel for provider in _providers if (panel := provider(entry)) is not None]


class CoverageState(models.TextChoices):
    """Lab coverage of a (model version × device model) pair; the four states partition the matrix's cells."""

    LAB_TESTED = "lab-tested", "Lab-tested"
    FLEET_NO_LAB = "fleet-no-lab", "In the fleet, no lab run"
    NOT_IN_FLEET = "not-in-fleet", "Not in the fleet"
    NO_EVIDENCE = "no-evidence", "No evidence"


@dataclass(frozen=True)
class MatrixCoverage:
    """Coverage states of the matrix's pairs (a pair not in `states` has no evidence), and where the gaps are listed."""

    states: dict[tuple[int, int], str]
    note: str = ""
    report_url: str = ""


# Given the (model version, device model) pairs that have a compat entry, the states of the matrix's pairs.
MatrixCoverageProvider = Callable[[set[tuple[int, int]]], MatrixCoverage]
_coverage_providers: list[MatrixCoverageProvider] = []


def matrix_coverage_register(provider: MatrixCoverageProvider) -> None:
    """Sets the matrix's coverage provider (idempotent; one provider: a cell has one coverage state)."""
    _coverage_providers[:] = [provider]


def matrix_coverage_get(*, evidenced: set[tuple[int, int]]) -> MatrixCoverage | None:
    """The coverage states, or None when no app provides them (the matrix then shows statuses only)."""
    return _coverage_providers[0](evidenced) if _coverage_providers else None


# A compat cell as the overlay providers key it: (model version, runtime version, delegate, device model) ids.
OverlayCell = tuple[int, int, int, int]


@dataclass(frozen=True)
class CellMark:
    """How an overlay marks one matrix cell: a CSS class (static CSS only: CSP), words for its title, a glyph."""

    css_class: str
    title: str
    marker: str = ""  # plain text, escaped by the matrix; beside the status glyph (colour never alone)


@dataclass(frozen=True)
class MatrixOverlay:
    """An overlay of the matrix: the marks of the cells shown (a cell not in `marks` is unmarked) and its legend."""

    marks: dict[OverlayCell, CellMark]
    legend: list[tuple[str, str]]  # (css class, words), in legend order
    note: str = ""
    counts: dict[str, int] = field(default_factory=dict)  # cells shown per css class


# Given the compat cells the matrix shows (the best path of each matrix cell), their marks.
MatrixOverlayProvider = Callable[[list[OverlayCell]], MatrixOverlay]
_overlay_providers: dict[str, tuple[str, MatrixOverlayProvider]] = {}


def matrix_overlay_register(*, name: str, label: str, provider: MatrixOverlayProvider) -> None:
    """Adds an overlay the matrix offers as `?overlay=<name>` (idempotent: ready() may run twice in tests)."""
    _overlay_providers[name] = (label, provider)


def matrix_overlay_choices() -> list[tuple[str, str]]:
    return [(name, label) for name, (label, _) in _overlay_providers.items()]


def matrix_overlay_get(*, name: str, cells: list[OverlayCell]) -> MatrixOverlay | None:
    """The overlay's marks, or None when no app provides an overlay of that name."""
    entry = _overlay_providers.get(name)
    return entry[1](cells) if entry else None
