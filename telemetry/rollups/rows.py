"""Rollup rows of any grain built from Totals, the cohort key of a grouped row, and whether an hour's partials carry
the thermal and fallback grains."""

from datetime import datetime

from ..kpi.totals import Totals
from ..models import HourlySessionPartial
from ..models.rollups import COHORT_FIELDS

Cohort = tuple  # (device_model_id, model_version_id, runtime_version_id, delegate_id, app_version, os_version)


def rollup_row(model, *, bucket_start: datetime, totals: Totals, devices: int, now: datetime, **keys):
    """An unsaved rollup row of any grain: the keys given, the sums of `totals`, `devices` (exact for its bucket)."""
    return model(bucket_start=bucket_start, **keys, **totals.columns(devices=devices), computed_at=now)


def cohort_of(row: dict) -> Cohort:
    """The cohort key of a values() row holding the COHORT_FIELDS."""
    return tuple(row[name] for name in COHORT_FIELDS)


def cohort_row(model, bucket_start: datetime, cohort: Cohort, totals: Totals, now: datetime):
    """An unsaved cohort-grain rollup row (hourly or daily) of one cohort's totals."""
    return rollup_row(
        model,
        bucket_start=bucket_start,
        totals=totals,
        devices=totals.devices,
        now=now,
        **dict(zip(COHORT_FIELDS, cohort, strict=True)),
    )


def hour_partials_complete(hour: datetime) -> bool:
    """Whether every session partial of the hour carries the thermal and fallback grains (none written before they
    did, thermal_state NULL): the thermal and fallback rollups then merge partials and read raw only the sessions
    no partial covers, else they read every raw session of the hour."""
    return not HourlySessionPartial.objects.filter(bucket_start=hour, thermal_state__isnull=True).exists()
