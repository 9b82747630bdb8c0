"""Grain choice: which rollup table a read uses, the coarsest one that keeps every column it filters or groups by."""

from collections.abc import Mapping

from ..models import (
    DailyCoarseRollup,
    DailyDeviceModelRollup,
    DailyFleetRollup,
    DailyRollup,
    HourlyFleetRollup,
    HourlyRollup,
)
from ..models.rollups import COHORT_FIELDS
from .scope import FILTER_LOOKUPS

# Daily rollups from the coarsest, with the cohort columns each keeps: a read uses the first one keeping every
# column it filters or groups by (fleet: ~1 row a day, device model: ~40, compat cell: ~250, full cohort: more).
COHORT_COLUMNS = frozenset(name.removesuffix("_id") for name in COHORT_FIELDS)
DM = frozenset({"device_model"})  # reads that involve device-model columns only
DAILY_GRAINS = (
    (DailyFleetRollup, frozenset()),
    (DailyDeviceModelRollup, DM),
    (DailyCoarseRollup, frozenset({"device_model", "model_version", "runtime_version", "delegate"})),
    (DailyRollup, COHORT_COLUMNS),
)
HOURLY_GRAINS = ((HourlyFleetRollup, frozenset()), (HourlyRollup, COHORT_COLUMNS))
# Breakdown dimension -> the columns it groups by (the label joins them with a space).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "device_model": ("device_model__slug",),
    "vendor": ("device_model__vendor",),
    "tier": ("device_model__tier",),
    "os_version": ("os_version",),
    "app_version": ("app_version",),
    "model": ("model_version__ml_model__slug",),
    "model_version": ("model_version__ml_model__slug", "model_version__version"),
    "runtime": ("runtime_version__runtime__slug",),
    "runtime_version": ("runtime_version__runtime__slug", "runtime_version__version"),
    "delegate": ("delegate__slug",),
    "cell": ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id"),
    "cohort": ("device_model_id", "model_version_id", "runtime_version_id", "delegate_id"),
}


def columns_read(filters: Mapping[str, object] | None, fields: tuple[str, ...]) -> set[str]:
    """The cohort columns a read filters or groups by ("device_model__vendor__iexact" -> "device_model")."""
    lookups = [FILTER_LOOKUPS[name] for name in filters or {}] + list(fields)
    return {lookup.split("__")[0].removesuffix("_id") for lookup in lookups}


def device_model_only(filters: Mapping[str, object] | None, fields: tuple[str, ...] = ()) -> bool:
    """True when a read filters and groups by device-model columns only (its devices can be counted per pair)."""
    return columns_read(filters, fields) <= DM


def daily_model(*, filters: Mapping[str, object] | None = None, fields: tuple[str, ...] = ()):
    """The coarsest daily rollup keeping every column the read filters or groups by (DAILY_GRAINS)."""
    columns = columns_read(filters, fields)
    return next(model for model, kept in DAILY_GRAINS if columns <= kept)


def hourly_model(*, filters: Mapping[str, object] | None = None, fields: tuple[str, ...] = ()):
    """The coarsest hourly rollup keeping every column the read filters or groups by (HOURLY_GRAINS)."""
    columns = columns_read(filters, fields)
    return next(model for model, kept in HOURLY_GRAINS if columns <= kept)
