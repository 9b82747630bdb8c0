"""What apps above compat add to its pages: sections of the cell page, the lab-coverage state of matrix cells.

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
