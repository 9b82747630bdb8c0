"""Session partial aggregates: what one ingest batch adds to each hour × cohort, written in the batch's transaction.

The hourly rollup merges these (a handful of rows per batch) instead of re-reading the sessions they summarize;
sessions written otherwise (test factories, direct loads, rows from before partials existed) keep
`in_partial = False` and the rollup reads them raw. Raw SQL (S608): identifiers from model meta, values as params.
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import msgspec
from django.db import connection

from edgeportal_client.histogram import ZERO_THRESHOLD_MS, bucket_key

from .rollup_models import COHORT_FIELDS, HourlySessionPartial

HOUR_S = 3600
PARTIAL_COLUMNS = (
    "bucket_start", *COHORT_FIELDS, "device_id", "sessions", "crashed_sessions", "inferences", "errors",
    "accelerated_weighted_sum", "accelerated_weight", "latency_counts", "latency_zero", "rss_counts", "rss_zero",
)  # fmt: skip
_json_encode = msgspec.json.Encoder().encode


class SessionSums:
    """A partial's sums, named as rollups.Totals names them (session_add fills either)."""

    __slots__ = ("sessions", "crashed_sessions", "inferences", "errors", "accelerated_weighted_sum",
                 "accelerated_weight", "latency_counts", "latency_zero", "rss_counts", "rss_zero")  # fmt: skip

    def __init__(self) -> None:
        self.sessions = self.crashed_sessions = self.inferences = self.errors = self.accelerated_weight = 0
        self.latency_zero = self.rss_zero = 0
        self.accelerated_weighted_sum = 0.0
        self.latency_counts: dict[int | str, int] = defaultdict(int)
        self.rss_counts: dict[str, int] = defaultdict(int)


def session_add(sums, has_crash, inferences, errors, accelerated, counts, zero_count, peak_rss_mb) -> None:
    """What one session adds to its hour × cohort: the one definition behind partials and raw hourly rollups."""
    sums.sessions += 1
    sums.crashed_sessions += has_crash
    sums.inferences += inferences
    sums.errors += errors
    if accelerated is not None:
        sums.accelerated_weighted_sum += accelerated * inferences
        sums.accelerated_weight += inferences
    latency = sums.latency_counts
    for key, count in counts.items():
        latency[key] += count
    sums.latency_zero += zero_count
    if peak_rss_mb is not None:
        if (key := rss_key(peak_rss_mb)) is None:
            sums.rss_zero += 1
        else:
            sums.rss_counts[key] += 1


def rss_key(peak_rss_mb: float, memo: dict[float, str | None] = {}) -> str | None:  # noqa: B006 -- a memo
    """The peak-RSS bucket of a session (None: below the zero threshold). 0.1 MB resolution: few distinct values."""
    key = memo.get(peak_rss_mb, "")
    if key == "":
        key = memo[peak_rss_mb] = None if peak_rss_mb < ZERO_THRESHOLD_MS else str(bucket_key(peak_rss_mb))
        if len(memo) > 100_000:
            memo.clear()
    return key


def session_partials_insert(*, device_id: int, sessions: list[tuple]) -> None:
    """Sums the batch's stored sessions per hour × cohort into HourlySessionPartial rows (one INSERT).

    `sessions`: (started_at, has_crash, inferences, errors, accelerated_fraction, latency_histogram wire dict,
    peak_rss_mb, cohort tuple in COHORT_FIELDS order) of each session actually inserted.
    """
    groups: dict[tuple, SessionSums] = defaultdict(SessionSums)
    for started_at, has_crash, inferences, errors, accelerated, histogram, peak_rss, cohort in sessions:
        session_add(groups[(int(started_at.timestamp()) // HOUR_S, cohort)], has_crash, inferences, errors,
                    accelerated, histogram["counts"], histogram.get("zero_count", 0), peak_rss)  # fmt: skip
    rows = [
        (
            datetime.fromtimestamp(hour * HOUR_S, UTC), *cohort, device_id, sums.sessions, sums.crashed_sessions,
            sums.inferences, sums.errors, sums.accelerated_weighted_sum, sums.accelerated_weight,
            {str(k): v for k, v in sums.latency_counts.items()}, sums.latency_zero, dict(sums.rss_counts), sums.rss_zero,
        )
        for (hour, cohort), sums in groups.items()
    ]  # fmt: skip
    _insert(rows)


def crashed_partials_insert(*, flipped: list[tuple]) -> None:
    """One partial per session whose has_crash flipped after its batch summed it: crashed_sessions = 1.

    `flipped`: (started_at, cohort tuple, device_id) of sessions with in_partial set.
    """
    counts: dict[tuple, int] = defaultdict(int)
    for started_at, cohort, device_id in flipped:
        counts[(int(started_at.timestamp()) // HOUR_S, cohort, device_id)] += 1
    _insert([
        (datetime.fromtimestamp(hour * HOUR_S, UTC), *cohort, device_id, 0, crashed, 0, 0, 0.0, 0, {}, 0, {}, 0)
        for (hour, cohort, device_id), crashed in counts.items()
    ])  # fmt: skip


def _insert(rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    json_columns = {PARTIAL_COLUMNS.index("latency_counts"), PARTIAL_COLUMNS.index("rss_counts")}
    bucket = HourlySessionPartial._meta.get_field("bucket_start")
    params = [
        _json_encode(value).decode()
        if index in json_columns
        else bucket.get_db_prep_save(value, connection)
        if index == 0
        else value
        for row in rows
        for index, value in enumerate(row)
    ]
    quote = connection.ops.quote_name
    placeholders = "(" + ", ".join(["%s"] * len(PARTIAL_COLUMNS)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(HourlySessionPartial._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(column) for column in PARTIAL_COLUMNS)}) VALUES {', '.join([placeholders] * len(rows))}",
            params,
        )
