"""Lab coverage: how much of what the fleet runs the lab has benchmarked (DESIGN.md's KPI, one definition).

The share of the fleet's active (model version × device model) pairs, weighted by their active devices, that have at
least one successful lab run on a matching runtime and delegate in the last LAB_COVERAGE_DAYS days. A pair is
active when some device ran a session of that model version on that device model in the range; "matching" means the
run used a (runtime, delegate) the pair runs in the field (any runtime version). Field evidence does not count: every
pair the fleet runs has it by construction. A device active in two pairs weighs in each.

The home card, the matrix's coverage states and the coverage-gap report (docs/lab-field.md) all read lab_coverage.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from benchmarks.models import BenchmarkRun, RunStatus
from compat.models import RuntimeVersion
from compat.panels import CoverageState
from telemetry.kpi.buckets import DAY, day_floor, range_snap
from telemetry.kpi.grains import daily_model
from telemetry.kpi.reads import grouped_devices
from telemetry.kpi.scope import filter_q
from telemetry.kpi.windows import TrailingRows, trailing_rows_read

CELL = ("model_version_id", "runtime_version_id", "delegate_id", "device_model_id")
PAIR = ("model_version_id", "device_model_id")
Pair = tuple[int, int]


@dataclass(frozen=True)
class FleetPath:
    """A (runtime, delegate) a pair runs in the field, with its sessions in the range."""

    runtime_id: int
    delegate_id: int
    sessions: int


@dataclass(frozen=True)
class CoverageGap:
    """An active pair with no matching lab run: what to benchmark next."""

    model_version_id: int
    device_model_id: int
    devices: int
    sessions: int = 0
    paths: tuple[FleetPath, ...] = ()  # most sessions first


@dataclass(frozen=True)
class LabCoverage:
    share: float | None  # covered devices ÷ devices, over active pairs; None when the fleet ran nothing
    covered_pairs: int
    pairs: int
    covered_devices: int
    devices: int
    gaps: list[CoverageGap]  # uncovered pairs, most devices first
    active: frozenset[Pair] = frozenset()  # every active pair
    covered: frozenset[Pair] = frozenset()  # the active pairs with a matching lab run


def lab_coverage(*, start: datetime, end: datetime, filters: dict, now: datetime | None = None) -> LabCoverage:
    """The lab coverage of the fleet's activity in [start, end) within `filters` (module docstring); 4 queries, 2 on
    an unfiltered 7- or 30-day window (its rows, read once per request, hold the active cells and pair devices)."""
    snapped_start, snapped_end = range_snap(start, end)
    window = _window_read(start=start, end=end, filters=filters)
    if window is not None:  # an unfiltered 7- or 30-day window: its cell and pair rows, summed by the rollup run
        cells = [(mv, rv, delegate, dm, totals.sessions) for (dm, mv, rv, delegate), totals in window.cells.items()]
        cells = [cell for cell in cells if cell[-1] > 0]
    else:
        daily = daily_model(filters=filters, fields=CELL)
        cells = list(
            daily.objects.filter(
                filter_q(filters), bucket_start__gte=day_floor(start), bucket_start__lt=day_floor(end) + DAY,
                sessions__gt=0,
            ).order_by().values_list(*CELL).annotate(total=Sum("sessions"))
        )  # fmt: skip
    if not cells:
        return LabCoverage(None, 0, 0, 0, 0, [])
    if window is not None:
        runtime_of = window.runtime_of
    else:
        runtime_of = dict(
            RuntimeVersion.objects.filter(id__in={rv for _, rv, _, _, _ in cells}).values_list("id", "runtime_id")
        )
    paths: dict[Pair, dict[tuple[int, int], int]] = defaultdict(lambda: defaultdict(int))
    for mv, rv, delegate, dm, sessions in cells:
        paths[(mv, dm)][(runtime_of[rv], delegate)] += sessions
    if window is not None:
        devices = window.pair_devices
    else:
        # Snapped as the KPI selectors snap: an end at "now" then reaches the present, so today is read as its whole
        # day of activity rows instead of a raw-session scan of today's hours (nothing starts after now: same counts).
        devices = grouped_devices(start=snapped_start, end=snapped_end, q=filter_q(filters), fields=PAIR)
    since = (now or timezone.now()) - timedelta(days=settings.LAB_COVERAGE_DAYS)
    lab_paths: dict[Pair, set[tuple[int, int]]] = defaultdict(set)
    runs = BenchmarkRun.objects.filter(
        status=RunStatus.DONE, ran_at__gte=since,
        model_version_id__in={mv for mv, _ in paths}, device_model_id__in={dm for _, dm in paths},
    ).values_list("model_version_id", "device_model_id", "runtime_version__runtime_id", "delegate_id").distinct()  # fmt: skip
    for mv, dm, runtime, delegate in runs:
        lab_paths[(mv, dm)].add((runtime, delegate))
    covered = {pair for pair, used in paths.items() if used.keys() & lab_paths.get(pair, set())}
    weight = {pair: devices.get(pair, 0) for pair in paths}
    total, covered_devices = sum(weight.values()), sum(weight[pair] for pair in covered)
    gaps = sorted(
        (_gap(pair, weight[pair], paths[pair]) for pair in paths if pair not in covered),
        key=lambda gap: (-gap.devices, -gap.sessions, gap.model_version_id, gap.device_model_id),
    )
    return LabCoverage(
        covered_devices / total if total else None, len(covered), len(paths), covered_devices, total, gaps,
        frozenset(paths), frozenset(covered),
    )  # fmt: skip


def _window_read(*, start: datetime, end: datetime, filters: dict) -> TrailingRows | None:
    """The trailing window whose rows hold this read: unfiltered, and its span the whole days the cells are read
    over (so never the 24 h window: its cells are hours, the coverage's are whole days)."""
    window = trailing_rows_read(start=start, end=end, filters=filters)
    if window is None or window.span != (day_floor(start), day_floor(end) + DAY):
        return None
    return window


def _gap(pair: Pair, devices: int, used: dict[tuple[int, int], int]) -> CoverageGap:
    fleet_paths = sorted(
        (FleetPath(rt, dl, n) for (rt, dl), n in used.items()), key=lambda p: (-p.sessions, p.runtime_id, p.delegate_id)
    )
    return CoverageGap(pair[0], pair[1], devices, sum(used.values()), tuple(fleet_paths))


def pair_coverage_states(*, coverage: LabCoverage, evidenced: set[Pair]) -> dict[Pair, str]:
    """The coverage state of every pair in the fleet or with compat evidence; any other pair has no evidence.

    lab-tested: active with a matching lab run; in the fleet, no lab run: active without one (with or without
    compat evidence); not in the fleet: compat evidence (lab or older field) but not active in the range.
    """
    states = {pair: CoverageState.NOT_IN_FLEET for pair in evidenced}
    for pair in coverage.active:
        states[pair] = CoverageState.LAB_TESTED if pair in coverage.covered else CoverageState.FLEET_NO_LAB
    return states
