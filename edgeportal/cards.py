"""The home page's KPI card and its parts, shared by the fleet KPIs (selectors) and the release KPIs."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Trend:
    """The change against the previous period of the same length; shares change in percentage points."""

    delta: float | None
    unit: str
    direction: str  # better / worse / flat / "" (no previous data)
    text: str


@dataclass(frozen=True)
class Worst:
    """The device model furthest past its own target (largest value ÷ target) for a per-device-model KPI."""

    device_model: str
    name: str
    value: float
    target: float
    text: str

    @property
    def ratio(self) -> float:
        return self.value / self.target


@dataclass
class KpiCard:
    """One KPI on the home page: value and target as numbers with their unit, the status, the trend, the worst."""

    key: str
    label: str
    value: float | None
    unit: str  # ms, MB, share (0–1), per_1k
    target: float | None
    target_text: str
    status: str
    display: str  # the value as the page prints it
    trend: Trend | None = None
    worst: Worst | None = None
    note: str = ""
    link: str = ""
