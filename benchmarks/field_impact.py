"""The field population of lab regressions, which an app above benchmarks supplies.

benchmarks may not import telemetry (tests/test_architecture.py): the app that joins them registers one function
from its AppConfig.ready() that annotates a Regression queryset with `field_devices` (active devices of the
regression's cell), `field_sessions_per_day`, `fleet_share` (and `fleet_share_pct`) and `field_fleet_devices` — in
SQL, so the list can be ordered and paged by them.
Without such an app the regressions are shown without a field population.
"""

from collections.abc import Callable

from django.db.models import F, QuerySet

RegressionAnnotate = Callable[[QuerySet], QuerySet]
_annotate: list[RegressionAnnotate] = []
IMPACT_ORDER = "impact"  # the `order` parameter of the regression list and API
NEWEST_ORDER = "newest"  # the list page ranks by impact unless asked for this


def regression_impact_register(annotate: RegressionAnnotate) -> None:
    _annotate[:] = [annotate]


def regressions_with_impact(queryset: QuerySet) -> QuerySet:
    """The queryset annotated with its field population, when an app supplies it."""
    return _annotate[0](queryset) if _annotate else queryset


def impact_known() -> bool:
    return bool(_annotate)


def regressions_by_impact(queryset: QuerySet) -> QuerySet:
    """Most field devices first, then most sessions; regressions without a field population last."""
    if not _annotate:
        return queryset
    return queryset.order_by(
        F("field_devices").desc(nulls_last=True),
        F("field_sessions_per_day").desc(nulls_last=True),
        "-detected_at",
        "-id",
    )
