"""The fleet page's CPU-fallback figures: the ops sessions fell back on, their sessions and share of the scope.

Exact from the fallback rollups (telemetry/models/fallback.py) over the page's range, cut as every KPI read cuts it
(edge hours from the hourly rows, whole days from the daily ones), and every filter those rows carry: the compat
cell's four columns and what hangs off them (vendor, tier, model, runtime). They carry no app or OS version, so a
scope filtering on those reads a bounded sample of raw sessions instead (the newest 5,000 of the range's last 24 h)
and the page says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections
from django.db.models import Q

from ..kpi.buckets import range_snap
from ..kpi.reads import range_pieces
from ..kpi.scope import FILTER_LOOKUPS, filter_q
from ..models import DailyFallbackRollup, HourlyFallbackRollup, InferenceSession
from ..models.fallback import ALL_SESSIONS, fallback_ops_normalized

# Filters the fallback rollups cannot apply: the rows are per compat cell × firmware, without app or OS version.
NOT_IN_ROLLUPS = ("app_version", "os_version")
ROLLUP_FILTERS = frozenset(FILTER_LOOKUPS) - set(NOT_IN_ROLLUPS)
SAMPLE_HOURS = 24
SAMPLE_SESSIONS = 5000
TOP_OPS = 10


@dataclass(frozen=True)
class FallbackOp:
    """One op: the sessions in scope listing it among their fallback ops (once per session) and their share."""

    op: str
    sessions: int
    share: float | None


@dataclass(frozen=True)
class FallbackOps:
    """The top ops of a scope, biggest first; `sessions` is the share's denominator (the scope's, or the sample's)."""

    ops: list[FallbackOp]
    ops_total: int  # distinct ops that fell back in scope (more than shown when > len(ops))
    sessions: int
    sampled_by: tuple[str, ...] = ()  # the filters that sent the read to the raw sample; () = exact, from rollups

    @property
    def is_sample(self) -> bool:
        return bool(self.sampled_by)


def _ops(rows: list[tuple[str, int]], *, sessions: int, ops_total: int, sampled_by=()) -> FallbackOps:
    ops = [FallbackOp(op=op, sessions=n, share=n / sessions if sessions else None) for op, n in rows]
    return FallbackOps(ops=ops, ops_total=ops_total, sessions=sessions, sampled_by=tuple(sampled_by))


def fallback_ops_get(
    *, start: datetime, end: datetime, filters: dict[str, object], limit: int = TOP_OPS
) -> FallbackOps:
    """The scope's top CPU-fallback ops: one rollup query, or the bounded raw sample for filters rollups lack."""
    sampled_by = tuple(name for name in NOT_IN_ROLLUPS if name in filters)
    if sampled_by:
        return _sample_ops(start=start, end=end, filters=filters, limit=limit, sampled_by=sampled_by)
    return _rollup_ops(start=start, end=end, filters=filters, limit=limit)


def _rollup_ops(*, start: datetime, end: datetime, filters: dict[str, object], limit: int) -> FallbackOps:
    """Sums the range's hourly edge rows and daily rows per op in SQL (one query): only the shown ops and the
    all-sessions total come back, whatever the number of cells, firmwares and ops."""
    edges, (day_start, day_end) = range_pieces(*range_snap(start, end))
    q = filter_q(filters)
    parts = []
    if edges:
        hours = Q()
        for a, b in edges:
            hours |= Q(bucket_start__gte=a, bucket_start__lt=b)
        parts.append(HourlyFallbackRollup.objects.filter(hours, q))
    if day_start < day_end:
        parts.append(DailyFallbackRollup.objects.filter(q, bucket_start__gte=day_start, bucket_start__lt=day_end))
    if not parts:
        return _ops([], sessions=0, ops_total=0)
    compiled = [part.order_by().values("op", "sessions").query.sql_with_params() for part in parts]
    union = " UNION ALL ".join(sql for sql, _ in compiled)
    # The all-sessions row first, then the ops by sessions; COUNT(*) OVER () counts every op group before LIMIT.
    query = (
        f"SELECT r.op, SUM(r.sessions), COUNT(*) OVER () FROM ({union}) r GROUP BY r.op "  # noqa: S608 -- compiled querysets
        "ORDER BY CASE WHEN r.op = %s THEN 0 ELSE 1 END, 2 DESC, r.op LIMIT %s"
    )
    params = [p for _, part_params in compiled for p in part_params] + [ALL_SESSIONS, limit + 1]
    with connections[parts[0].db].cursor() as cursor:  # where the querysets read: the replica on a page
        cursor.execute(query, params)
        rows = [(op, int(n), int(groups)) for op, n, groups in cursor.fetchall()]
    if not rows or rows[0][0] != ALL_SESSIONS:  # no rows: no session in scope
        return _ops([], sessions=0, ops_total=0)
    sessions, groups = rows[0][1], rows[0][2]
    return _ops([(op, n) for op, n, _ in rows[1:]], sessions=sessions, ops_total=groups - 1)


def _sample_ops(
    *, start: datetime, end: datetime, filters: dict[str, object], limit: int, sampled_by: tuple[str, ...]
) -> FallbackOps:
    """The newest ≤ 5,000 sessions of the scope in the range's last 24 h, their ops keyed as the rollups key them:
    bounded whatever the fleet's size (the index on started_at walks back from the range's end)."""
    sessions = (
        InferenceSession.objects.filter(
            filter_q(filters), started_at__gte=max(start, end - timedelta(hours=SAMPLE_HOURS)), started_at__lt=end
        )
        .order_by("-started_at")
        .values_list("fallback_ops", flat=True)[:SAMPLE_SESSIONS]
    )
    counter: Counter[str] = Counter()
    sampled = 0
    for ops in sessions:
        sampled += 1
        counter.update(fallback_ops_normalized(ops))
    top = sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return _ops(top, sessions=sampled, ops_total=len(counter), sampled_by=sampled_by)
