"""Sections that apps above compat add to the cell page.

compat may not import the apps that join it with telemetry and lab runs (tests/test_architecture.py), so such an app
registers a panel here from its AppConfig.ready(); the cell page renders each panel's template with its context.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

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
