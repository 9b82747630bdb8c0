"""The scope of a KPI query: cohort filters and a time range, parsed from query parameters in one place.

Pages, the read API and the KPI home all call scope_parse: pages read `range` (24h/7d/30d/custom with `from`/`to`)
and report a bad filter beside the page; the API (strict=True) reads `from`/`to` only and refuses a bad value with
a ValidationError naming the parameter. The filter vocabulary (FILTER_LOOKUPS) is the one every KPI read applies.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import Q, Value
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from compat.models import Delegate, DeviceModel, MLModel, ModelVersion, Runtime, RuntimeVersion

# API/page parameter -> lookup on rollup, activity and raw session rows (they share the cohort column names).
FILTER_LOOKUPS: dict[str, str] = {
    "device_model": "device_model__slug",
    "device_model_id": "device_model_id",
    "vendor": "device_model__vendor__iexact",
    "tier": "device_model__tier",
    "os_version": "os_version",
    "app_version": "app_version",
    "model": "model_version__ml_model__slug",
    "model_version": "model_version__version",
    "model_version_id": "model_version_id",
    "runtime": "runtime_version__runtime__slug",
    "runtime_version": "runtime_version__version",
    "runtime_version_id": "runtime_version_id",
    "delegate": "delegate__slug",
    "delegate_id": "delegate_id",
}
# Parameters whose value must name a catalog row: the query that proves it exists.
KNOWN_VALUES: dict[str, Callable[[str], bool]] = {
    "device_model": lambda v: DeviceModel.objects.filter(slug=v).exists(),
    "vendor": lambda v: DeviceModel.objects.filter(vendor__iexact=v).exists(),
    "model": lambda v: MLModel.objects.filter(slug=v).exists(),
    "model_version": lambda v: ModelVersion.objects.filter(version=v).exists(),
    "runtime": lambda v: Runtime.objects.filter(slug=v).exists(),
    "runtime_version": lambda v: RuntimeVersion.objects.filter(version=v).exists(),
    "delegate": lambda v: Delegate.objects.filter(slug=v).exists(),
}
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
RANGE_CHOICES = (("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "Custom"))
SCOPE_PARAMS = ("range", "from", "to", *FILTER_LOOKUPS)
API_DEFAULT_RANGE = timedelta(days=7)
# What PostgreSQL and the hour/day arithmetic can hold: a value outside is a 400 (API) or ignored (pages), never a 500.
MOMENT_MIN, MOMENT_MAX = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
MAX_INTEGER = 2_147_483_647
MAX_VALUE_CHARS = 200


# -- filters -----------------------------------------------------------------------------------------------------


def kpi_filters_clean(*, params: Mapping[str, str]) -> dict[str, object]:
    """Keeps the known filter parameters with a value; unknown slugs/versions raise ValidationError naming the param."""
    filters: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for name in FILTER_LOOKUPS:
        value = params.get(name)
        if value in (None, ""):
            continue
        value = str(value)
        if "\x00" in value or len(value) > MAX_VALUE_CHARS:
            errors[name] = [f"{name} must be at most {MAX_VALUE_CHARS} characters, without NUL."]
            continue
        if name == "tier" or name.endswith("_id"):
            if not (value.isascii() and value.isdigit() and int(value) <= MAX_INTEGER):
                errors[name] = [f"{name} must be an integer from 0 to {MAX_INTEGER}, got {value[:40]!r}."]
                continue
            value = int(value)
        elif name in KNOWN_VALUES and not KNOWN_VALUES[name](value):
            errors[name] = [f"Unknown {name} {value!r}."]
            continue
        filters[name] = value
    if errors:
        raise ValidationError(errors)
    return filters


def filter_q(filters: Mapping[str, object]) -> Q:
    """The Q of cleaned filters on any row with the cohort columns (rollups, activity, raw sessions)."""
    unknown = set(filters) - set(FILTER_LOOKUPS)
    if unknown:
        raise ValueError(f"unknown KPI filters: {sorted(unknown)}")
    return Q(**{FILTER_LOOKUPS[name]: value for name, value in filters.items()})


def catalog_options() -> dict[str, list]:
    """Catalog options for cohort selects: device models, models, runtimes, delegates (two small queries: the
    device models, then the three slug lists in one UNION, each in the database's order of its own query)."""
    slugs = (
        MLModel.objects.order_by().annotate(option_list=Value(0)).values_list("option_list", "slug")
        .union(Runtime.objects.order_by().annotate(option_list=Value(1)).values_list("option_list", "slug"), all=True)
        .union(Delegate.objects.order_by().annotate(option_list=Value(2)).values_list("option_list", "slug"), all=True)
        .order_by("option_list", "slug")
    )  # fmt: skip
    by_kind: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for kind, slug in slugs:
        by_kind[kind].append(slug)
    return {
        "device_models": list(DeviceModel.objects.order_by("vendor", "name").values_list("slug", "vendor", "name")),
        "models": by_kind[0],
        "runtimes": by_kind[1],
        "delegates": sorted(set(by_kind[2])),
    }


def filter_choices() -> dict[str, list]:
    """Options for the scope filter selects of the fleet pages and the KPI home: the catalog's, vendors, ranges."""
    options = catalog_options()
    return {
        **options,
        "vendors": sorted({vendor for _slug, vendor, _name in options["device_models"]}),
        "tiers": [1, 2, 3],
        "range_choices": RANGE_CHOICES,
    }


# -- time range --------------------------------------------------------------------------------------------------


def moment_checked(moment: datetime | None) -> datetime | None:
    """The moment in UTC (naive = UTC), or None when PostgreSQL could not hold it: an offset beyond ±15:59, a
    year outside 1970–2199 (year 9999 overflows the first hour or day added to it)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        if abs(moment.utcoffset()) > MAX_UTC_OFFSET:
            return None
        moment = moment.astimezone(UTC)
    except OverflowError:
        return None
    return moment if MOMENT_MIN <= moment < MOMENT_MAX else None


def moment_parse(value: str) -> datetime | None:
    """An ISO 8601 datetime (naive = UTC) or a date (its UTC midnight); None when unreadable or out of range."""
    value = (value or "").strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    if "\x00" in value or len(value) > 64:
        return None
    try:  # both parsers raise ValueError on well-formed but impossible values (month 13)
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            moment = datetime.combine(day, time.min) if day else None
    except ValueError:
        return None
    return moment_checked(moment)


@dataclass(frozen=True)
class TimeRange:
    """The page's time range: a preset key (24h/7d/30d) or "custom" with explicit from/to."""

    key: str
    start: datetime
    end: datetime

    @property
    def previous(self) -> "TimeRange":
        """The period of the same length just before, for trends."""
        return TimeRange(self.key, self.start - (self.end - self.start), self.start)


def page_moment_parse(value: str | None, *, inclusive_day: bool = False) -> datetime | None:
    """A page's `from`/`to`: ISO datetime or bare date (a bare `to` date means through the end of that day)."""
    if not value or "\x00" in value or len(value) > 64:
        return None
    moment = None if len(value) == 10 else parse_datetime(value)
    if moment is None and (day := parse_date(value)) is not None:
        moment = datetime(day.year, day.month, day.day)
        if inclusive_day and moment_checked(moment):  # not past year 2199: 9999-12-31 + 1 day overflows
            moment += timedelta(days=1)
    return moment_checked(moment)


def time_range_parse(*, params, default: str = "7d", now: datetime | None = None) -> TimeRange:
    """Reads `range` (24h/7d/30d/custom) and, for custom, `from`/`to` (ISO dates or datetimes) from query params."""
    now = now or timezone.now()
    key = params.get("range") or default
    if key == "custom" or (key not in RANGES and (params.get("from") or params.get("to"))):
        try:
            start = page_moment_parse(params.get("from"))
            end = page_moment_parse(params.get("to"), inclusive_day=True)
        except ValueError:
            start = end = None
        end = min(end or now, now)
        start = start or end - RANGES[default]
        if start < end:
            return TimeRange("custom", start, end)
        key = default
    key = key if key in RANGES else default
    if RANGES[key] >= timedelta(days=2):
        # Multi-day presets are calendar days (UTC): the whole days read daily rollups and exact device counts
        # from DeviceActivityDay; only today is a partial edge, so no raw scan for a partial first day.
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return TimeRange(key, today - (RANGES[key] - timedelta(days=1)), now)
    return TimeRange(key, now - RANGES[key], now)


def api_time_range_parse(*, params, now: datetime | None = None) -> TimeRange:
    """The API's range: `from`/`to` (ISO 8601, `to` exclusive), default the 7 days before `to`; strict."""
    errors, moments = {}, {}
    for name in ("from", "to"):
        raw = params.get(name)
        if raw:
            moments[name] = moment_parse(raw)
            if moments[name] is None:
                errors[name] = [f"Not an ISO 8601 date or datetime: {raw!r}."]
    if errors:
        raise ValidationError(errors)
    end = moments.get("to") or now or timezone.now()
    start = moments.get("from") or end - API_DEFAULT_RANGE
    if start >= end:
        raise ValidationError({"from": ["`from` must be before `to`."]})
    return TimeRange("custom", start, end)


# -- the scope ---------------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """What every KPI query applies: a time range and cohort filters, both carried in the URL."""

    time_range: TimeRange
    filters: dict[str, object]
    errors: list[str]  # filters a page ignored, one line each
    query_string: str  # range + filters only, for links that keep the scope


def scope_parse(params, *, default_range: str = "7d", strict: bool = False, now: datetime | None = None) -> Scope:
    """Range and filters from query parameters.

    Pages: unknown filter values are reported in ``errors`` and not applied. ``strict`` (the API): the range is
    `from`/`to` only, and a bad range or filter raises ValidationError naming the parameter.
    """
    if strict:
        time_range = api_time_range_parse(params=params, now=now)
        filters = kpi_filters_clean(params=params)
        return Scope(time_range, filters, [], "")
    time_range = time_range_parse(params=params, default=default_range, now=now)
    errors: list[str] = []
    try:
        filters = kpi_filters_clean(params=params)
    except ValidationError as exc:
        filters = {}
        errors = [f"{name}: {' '.join(msgs)}" for name, msgs in exc.message_dict.items()]
    kept = [(k, params[k]) for k in SCOPE_PARAMS if params.get(k)]
    return Scope(time_range, filters, errors, urlencode(kept))


def scope_params_check(params) -> None:
    """Raises ValidationError naming every bad filter or `from`/`to` value, before a FilterSet sees them.

    The read API's list endpoints run this first: a value is judged here once, with messages that quote it safely.
    """
    errors: dict[str, list[str]] = {}
    try:
        kpi_filters_clean(params=params)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    for name in ("from", "to"):
        if params.get(name) and moment_parse(params[name]) is None:
            errors[name] = [f"Not an ISO 8601 date or datetime from 1970 to 2199 (offset within ±15:59): {name}."]
    if errors:
        raise ValidationError(errors)
