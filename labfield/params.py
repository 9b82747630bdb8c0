"""The one parser of the gap list's parameters (page, CSV and API): cell filters, `flagged`, `order`; and of the
thermal attribution list's: cell filters, `cell`."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from compat.models import CompatEntry
from telemetry.kpi.scope import kpi_filters_clean

from .drift import ORDERS as DRIFT_ORDERS
from .field import CELL, Cell
from .selectors import CELL_FILTERS, ORDERS

FLAGGED_VALUES = {"": None, "true": True, "1": True, "false": False, "0": False}


def _cell_filters(params: Mapping[str, str], errors: dict[str, list[str]]) -> dict:
    """The cell filters every list takes; a bad one goes into errors (all of a request's errors are named at once)."""
    try:
        return kpi_filters_clean(params={name: params.get(name) for name in CELL_FILTERS})
    except ValidationError as exc:
        errors.update(exc.message_dict)
        return {}


@dataclass(frozen=True)
class GapQuery:
    filters: dict
    flagged: bool | None
    order: str


def gap_query_parse(params: Mapping[str, str]) -> GapQuery:
    """Raises ValidationError naming each bad parameter."""
    errors: dict[str, list[str]] = {}
    filters = _cell_filters(params, errors)
    flagged_text = (params.get("flagged") or "").lower()
    if flagged_text not in FLAGGED_VALUES:
        errors["flagged"] = ["flagged must be true or false."]
    order = params.get("order") or "devices"
    if order not in ORDERS:
        errors["order"] = [f"order must be one of {', '.join(ORDERS)}."]
    if errors:
        raise ValidationError(errors)
    return GapQuery(filters=filters, flagged=FLAGGED_VALUES[flagged_text], order=order)


@dataclass(frozen=True)
class DriftQuery:
    filters: dict
    drifting: bool | None
    order: str


def drift_query_parse(params: Mapping[str, str]) -> DriftQuery:
    """The drift list's parameters (page, CSV, API): cell filters, `drifting`, `order`; ValidationError naming each."""
    errors: dict[str, list[str]] = {}
    filters = _cell_filters(params, errors)
    drifting_text = (params.get("drifting") or "").lower()
    if drifting_text not in FLAGGED_VALUES:
        errors["drifting"] = ["drifting must be true or false."]
    order = params.get("order") or "devices"
    if order not in DRIFT_ORDERS:
        errors["order"] = [f"order must be one of {', '.join(DRIFT_ORDERS)}."]
    if errors:
        raise ValidationError(errors)
    return DriftQuery(filters=filters, drifting=FLAGGED_VALUES[drifting_text], order=order)


@dataclass(frozen=True)
class ThermalQuery:
    filters: dict
    cell: Cell | None  # one compat cell (`cell=<entry id>`): the rows of its page


def thermal_query_parse(params: Mapping[str, str]) -> ThermalQuery:
    """The thermal attribution list's parameters (page, CSV and API): cell filters and `cell`; raises ValidationError
    naming each bad parameter."""
    errors: dict[str, list[str]] = {}
    filters = _cell_filters(params, errors)
    cell_text = (params.get("cell") or "").strip()
    cell = None
    if cell_text:
        if not cell_text.isascii() or not cell_text.isdigit() or len(cell_text) > 18:
            errors["cell"] = ["cell must be a compat cell id (a number)."]
        else:
            cell = CompatEntry.objects.filter(pk=int(cell_text)).values_list(*CELL).first()
            if cell is None:
                errors["cell"] = [f"no compat cell {cell_text}."]
    if errors:
        raise ValidationError(errors)
    return ThermalQuery(filters=filters, cell=cell)
