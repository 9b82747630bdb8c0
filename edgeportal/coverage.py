"""Lab coverage: how much of what the fleet runs the lab has benchmarked (DESIGN.md's KPI, one definition).

The share of the fleet's active (model version × device model) pairs, weighted by their active devices, that have at
least one successful lab run on a matching runtime and delegate in the last LAB_COVERAGE_DAYS days. A pair is
active when some device ran a session of that model version on that device model in the range; "matching" means the
run used a (runtime, delegate) the pair runs in the field (any runtime version). Field evidence does not count: every
pair the fleet runs has it by construction. A device active in two pairs weighs in each.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from benchmarks.models import BenchmarkRun, RunStatus
from compat.models import RuntimeVersion
from telemetry.kpi.buckets import DAY, day_floor
from telemetry.kpi.grains import daily_model
from telemetry.kpi.reads import grouped_devices
from telemetry.kpi.scope import filter_q

CELL = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
PAIR = ("model_version_id", "device_model_id")


@dataclass(frozen=True)
class CoverageGap:
    """An active pair with no matching lab run: what to benchmark next."""

    model_version_id: int
    device_model_id: int
    devices: int


@dataclass(frozen=True)
class LabCoverage:
    share: float | None  # covered devices ÷ devices, over active pairs; None when the fleet ran nothing
    covered_pairs: int
    pairs: int
    covered_devices: int
    devices: int
    gaps: list[CoverageGap]  # uncovered pairs, most devices first


def lab_coverage(*, start: datetime, end: datetime, filters: dict, now: datetime | None = None) -> LabCoverage:
    """The lab coverage of the fleet's activity in [start, end) within `filters` (module docstring)."""
    daily = daily_model(filters=filters, fields=CELL)
    cells = set(
        daily.objects.filter(
            filter_q(filters), bucket_start__gte=day_floor(start), bucket_start__lt=day_floor(end) + DAY,
            sessions__gt=0,
        ).values_list(*CELL).distinct()
    )  # fmt: skip
    if not cells:
        return LabCoverage(None, 0, 0, 0, 0, [])
    runtime_of = dict(
        RuntimeVersion.objects.filter(id__in={rv for _, rv, _, _ in cells}).values_list("id", "runtime_id")
    )
    paths: dict[tuple[int, int], set[tuple[int, int]]] = defaultdict(set)
    for mv, rv, delegate, dm in cells:
        paths[(mv, dm)].add((runtime_of[rv], delegate))
    devices = grouped_devices(start=start, end=end, q=filter_q(filters), fields=PAIR)
    since = (now or timezone.now()) - timedelta(days=settings.LAB_COVERAGE_DAYS)
    lab_paths: dict[tuple[int, int], set[tuple[int, int]]] = defaultdict(set)
    runs = BenchmarkRun.objects.filter(
        status=RunStatus.DONE, ran_at__gte=since,
        model_version_id__in={mv for mv, _ in paths}, device_model_id__in={dm for _, dm in paths},
    ).values_list("model_version_id", "device_model_id", "runtime_version__runtime_id", "delegate_id").distinct()  # fmt: skip
    for mv, dm, runtime, delegate in runs:
        lab_paths[(mv, dm)].add((runtime, delegate))
    covered = {pair for pair, used in paths.items() if used & lab_paths.get(pair, set())}
    weight = {pair: devices.get(pair, 0) for pair in paths}
    total, covered_devices = sum(weight.values()), sum(weight[pair] for pair in covered)
    gaps = sorted(
        (CoverageGap(mv, dm, weight[(mv, dm)]) for mv, dm in paths if (mv, dm) not in covered),
        key=lambda gap: (-gap.devices, gap.model_version_id, gap.device_model_id),
    )
    return LabCoverage(
        covered_devices / total if total else None, len(covered), len(paths), covered_devices, total, gaps
    )
