"""The header search: devices, crash groups, ML models and lab runs for one query, a bounded page of each kind.

edgeportal is the only layer that reads both telemetry and benchmarks, so the cross-app search lives here; each kind
matches through its app's own definition (devices and crash groups through `telemetry.support.matching`).
"""

from dataclasses import dataclass, field

from django.db.models import Q

from benchmarks.selectors import runs_list
from compat.models import MLModel
from telemetry.support.matching import crash_groups_matching, devices_matching

PER_KIND = 10


@dataclass
class SearchHits:
    """One kind's first PER_KIND hits; `more` is true when there are others (the "more" link's cue)."""

    rows: list = field(default_factory=list)
    more: bool = False


def _bounded(queryset, limit: int) -> SearchHits:
    rows = list(queryset[: limit + 1])  # one query per kind: the extra row says whether there are more
    return SearchHits(rows=rows[:limit], more=len(rows) > limit)


def search_everything(*, q: str, limit: int = PER_KIND) -> dict[str, SearchHits]:
    """Hits per kind for `q` (four queries); nothing for a blank query."""
    q = q.strip()
    if not q:
        return {}
    models_q = Q(slug__icontains=q) | Q(name__icontains=q) | Q(versions__version__iexact=q)
    return {
        "devices": _bounded(devices_matching(q).select_related("device_model").order_by("uid"), limit),
        "crash_groups": _bounded(crash_groups_matching(q).order_by("-last_seen_at", "-id"), limit),
        "models": _bounded(MLModel.objects.filter(models_q).distinct().order_by("name"), limit),
        "runs": _bounded(runs_list().filter(Q(build__icontains=q) | Q(commit__istartswith=q)), limit),
    }
