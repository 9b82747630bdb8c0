"""The oracle: every figure of the pages, reduced by brute force from the planted inputs with plain Python.

Never imports the project: the definitions are re-stated here from DESIGN.md and the KPI docstrings, so a page that
computes a figure another way disagrees with this module. Percentiles are the sample at rank floor(q·(n−1)) of the
sorted values (the histogram's convention); the pages may differ from them by the histogram's relative accuracy.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .plant import DELEGATE_KINDS, DEVICE_MODELS, Fleet, PlantedSession

BUDGET_MS_BY_TIER = {1: 50.0, 2: 120.0, 3: 250.0}  # DESIGN.md's default p95 budgets
CRASH_FREE_TARGET, ERRORS_PER_1K_TARGET, ACCELERATOR_TARGET = 0.995, 1.0, 0.95
MIN_SAMPLE_SESSIONS = 30
AT_RISK_SHARE = 0.9


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    floor = hour_floor(moment)
    return floor if floor == moment else floor + timedelta(hours=1)


def quantile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else None


def status(value: float | None, target: float | None, *, higher_is_better: bool) -> str:
    """met / at_risk / missed: at risk when more than 90 % of the allowance is used (for shares: of 1 − target)."""
    if value is None or target is None:
        return "unknown"
    used, allowance = (1 - value, 1 - target) if higher_is_better else (value, target)
    if used > allowance:
        return "missed"
    return "at_risk" if used > AT_RISK_SHARE * allowance else "met"


@dataclass(frozen=True)
class Figures:
    """The KPIs of a set of sessions."""

    sessions: int
    crashed_sessions: int
    crash_free_sessions: float | None
    inferences: int
    errors: int
    errors_per_1k: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p99_latency_ms: float | None
    accelerator_utilization: float | None
    peak_rss_mb_p50: float | None
    peak_rss_mb_p95: float | None
    devices: int


PERCENTILES = ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "peak_rss_mb_p50", "peak_rss_mb_p95")


def figures(sessions: list[PlantedSession]) -> Figures:
    n = len(sessions)
    crashed = sum(1 for s in sessions if s.crashed)
    inferences = sum(s.inferences for s in sessions)
    errors = sum(s.errors for s in sessions)
    samples = [x for s in sessions for x in s.samples]
    weighted = [(s.accelerated, s.inferences) for s in sessions if s.accelerated is not None]
    weight = sum(w for _, w in weighted)
    rss = [s.peak_rss_mb for s in sessions]
    return Figures(
        sessions=n,
        crashed_sessions=crashed,
        crash_free_sessions=1 - crashed / n if n else None,
        inferences=inferences,
        errors=errors,
        errors_per_1k=1000 * errors / inferences if inferences else None,
        p50_latency_ms=quantile(samples, 0.5),
        p95_latency_ms=quantile(samples, 0.95),
        p99_latency_ms=quantile(samples, 0.99),
        accelerator_utilization=sum(f * w for f, w in weighted) / weight if weight else None,
        peak_rss_mb_p50=quantile(rss, 0.5),
        peak_rss_mb_p95=quantile(rss, 0.95),
        devices=len({s.uid for s in sessions}),
    )


class Oracle:
    """Brute-force answers over one planted fleet."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet

    # -- ranges --------------------------------------------------------------------------------------------------

    def calendar_range(self, days: int) -> tuple[datetime, datetime]:
        """A `days`-day preset: from midnight UTC `days − 1` days ago to now, read in whole hours."""
        now = self.fleet.now
        start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days - 1)
        return start, hour_ceil(now)

    def previous_range(self, days: int) -> tuple[datetime, datetime]:
        start, _ = self.calendar_range(days)
        return hour_floor(start - (self.fleet.now - start)), start

    def sessions(self, start: datetime, end: datetime, **where) -> list[PlantedSession]:
        return [
            s for s in self.fleet.sessions
            if start <= s.started_at < end and all(getattr(s, k) == v for k, v in where.items())
        ]  # fmt: skip

    def figures(self, start: datetime, end: datetime, **where) -> Figures:
        return figures(self.sessions(start, end, **where))

    # -- per-device-model judgement ------------------------------------------------------------------------------

    def per_device_model(self, start: datetime, end: datetime, kpi: str) -> list[tuple[str, float, float]]:
        """(device model, value, its own target) for each device model with enough sessions."""
        rows = []
        for slug, device_model in DEVICE_MODELS.items():
            got = self.figures(start, end, device_model=slug)
            if got.sessions < MIN_SAMPLE_SESSIONS:
                continue
            if kpi == "p95_latency_ms":
                rows.append((slug, got.p95_latency_ms, BUDGET_MS_BY_TIER[device_model.tier]))
            else:
                rows.append((slug, got.peak_rss_mb_p95, device_model.memory_budget_mb))
        return rows

    def worst(self, start: datetime, end: datetime, kpi: str) -> tuple[str, float, float]:
        """The device model furthest past its own target: the largest value ÷ target."""
        return max(self.per_device_model(start, end, kpi), key=lambda row: row[1] / row[2])

    def per_device_model_status(self, start: datetime, end: datetime, kpi: str) -> str:
        order = ["unknown", "met", "at_risk", "missed"]
        statuses = [status(v, t, higher_is_better=False) for _, v, t in self.per_device_model(start, end, kpi)]
        return max(statuses, key=order.index, default="unknown")

    # -- cohorts -------------------------------------------------------------------------------------------------

    def cohort_misses(self, start: datetime, end: datetime) -> dict[tuple, tuple[Figures, list[str]]]:
        """Cohorts (device model, model version, delegate; one runtime version) with enough sessions missing a target."""
        keys = {(s.device_model, s.model_version, s.delegate) for s in self.sessions(start, end)}
        missing = {}
        for device_model, version, delegate in keys:
            got = self.figures(start, end, device_model=device_model, model_version=version, delegate=delegate)
            if got.sessions < MIN_SAMPLE_SESSIONS:
                continue
            planted = DEVICE_MODELS[device_model]
            misses = []
            if got.p95_latency_ms is not None and got.p95_latency_ms > BUDGET_MS_BY_TIER[planted.tier]:
                misses.append("p95_latency_ms")
            if got.crash_free_sessions is not None and got.crash_free_sessions < CRASH_FREE_TARGET:
                misses.append("crash_free_sessions")
            if got.errors_per_1k is not None and got.errors_per_1k >= ERRORS_PER_1K_TARGET:
                misses.append("errors_per_1k")
            accelerated = bool(planted.accelerators) and DELEGATE_KINDS[delegate] != "cpu"
            if accelerated and got.accelerator_utilization is not None:
                if got.accelerator_utilization < ACCELERATOR_TARGET:
                    misses.append("accelerator_utilization")
            if got.peak_rss_mb_p95 is not None and got.peak_rss_mb_p95 > planted.memory_budget_mb:
                misses.append("peak_rss_mb_p95")
            if misses:
                missing[(device_model, version, delegate)] = (got, misses)
        return missing

    # -- adoption ------------------------------------------------------------------------------------------------

    def adoption_latest_day(self, start: datetime, end: datetime) -> dict[str, float]:
        """Share of the devices active on the range's last active UTC day, per model version."""
        per_day: dict = defaultdict(lambda: defaultdict(set))
        for s in self.sessions(start, end):
            per_day[s.started_at.date()][s.model_version].add(s.uid)
        last = max(per_day)
        active = set().union(*per_day[last].values())
        return {version: len(uids) / len(active) for version, uids in per_day[last].items()}

    def active_pairs(self, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
        """(model version, device model) pairs active in range, with their active devices."""
        pairs: dict = defaultdict(set)
        for s in self.sessions(start, end):
            pairs[(s.model_version, s.device_model)].add(s.uid)
        return {pair: len(uids) for pair, uids in pairs.items()}

    # -- a device ------------------------------------------------------------------------------------------------

    def device_seen(self, uid: str) -> tuple[datetime, datetime]:
        moments = [s.started_at for s in self.fleet.sessions if s.uid == uid]
        moments += [c.occurred_at for c in self.fleet.crashes if c.uid == uid]
        return min(moments), max(moments)

    def device_timeline_count(self, uid: str, start: datetime, end: datetime) -> int:
        return len(self.sessions(start, end, uid=uid)) + sum(
            1 for c in self.fleet.crashes if c.uid == uid and start <= c.occurred_at < end
        )

    # -- crashes -------------------------------------------------------------------------------------------------

    def crashes(self, start: datetime, end: datetime):
        return [c for c in self.fleet.crashes if start <= c.occurred_at < end]

    def crash_cohort_share(self, start_day: datetime, end: datetime) -> tuple[int, int]:
        """Devices the crashes hit over the UTC days the range touches, and the devices active on those days on the
        device models they hit."""
        stop = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        hit = self.crashes(start_day, stop)
        models = {c.device_model for c in hit}
        active = {s.uid for s in self.sessions(start_day, stop) if s.device_model in models}
        return len({c.uid for c in hit}), len(active)
