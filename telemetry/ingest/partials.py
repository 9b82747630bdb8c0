"""Session partial aggregates: what one ingest batch adds to each hour × cohort × thermal state, and per fallback op,
written in the batch's transaction.

The hourly, thermal and fallback rollups merge these (a handful of rows per batch) instead of re-reading the sessions
they summarize; sessions written otherwise (test factories, direct loads, rows from before partials existed) keep
`in_partial = False` and the rollups read them raw.
"""

from collections import defaultdict
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np

from edgeportal_client.histogram import ZERO_THRESHOLD_MS

from ..kpi.coverage import session_lacks_kpi_field
from ..kpi.totals import SessionSums
from ..models import HourlyFallbackPartial, HourlySessionPartial
from ..models.fallback import fallback_ops_normalized
from ..models.rollups import COHORT_FIELDS
from ..models.thermal import thermal_state_key
from .bulk import rows_insert
from .histograms import bucket_keys, int_sums, keyed_counts

HOUR_S = 3600
PARTIAL_COLUMNS = (
    "bucket_start", *COHORT_FIELDS, "device_id", "sessions", "crashed_sessions", "inferences", "errors",
    "accelerated_weighted_sum", "accelerated_weight", "latency_counts", "latency_zero", "rss_counts", "rss_zero",
    "fallback_sessions", "lacking_sessions", "thermal_state", "energy_sessions", "energy_inferences",
    "energy_weighted_sum",
)  # fmt: skip
FALLBACK_PARTIAL_COLUMNS = (
    "bucket_start", "model_version_id", "runtime_version_id", "delegate_id", "device_model_id", "device_id", "op",
    "sessions", "accelerated_weighted_sum", "accelerated_weight",
)  # fmt: skip


def sessions_sum(
    groups: Sequence[Hashable],
    *,
    has_crash: Sequence[bool],
    inferences: Sequence[int],
    errors: Sequence[int],
    accelerated: Sequence[float | None],
    latency_counts: Sequence[dict[int, int]],
    latency_zero: Sequence[int],
    peak_rss_mb: Sequence[float | None],
    fallback: Sequence[bool],
    lacking: Sequence[bool],
    energy: Sequence[float | None] | None = None,
) -> dict[Hashable, SessionSums]:
    """What the sessions add to their groups (session i to groups[i]): the one definition behind the partials and
    the raw hourly rollup. Columns in, one numpy pass per sum: summing session by session in Python was ~3.5 µs per
    ingested event (the histogram merges most of it).

    Sums are exact (integers in float64 only while below 2**53, else Python ints); the accelerated weighted sum adds
    each session's `fraction × inferences` in session order within its group, as a Python loop would. `fallback` and
    `lacking` flag the sessions reporting CPU fallback ops and those lacking a KPI field (kpi.coverage); `energy`
    (energy_mj_per_inference, None = not reported) adds the thermal rollup's energy sums, else they stay 0.
    """  # fmt: skip
    index: dict[Hashable, int] = {}
    owners = np.array([index.setdefault(group, len(index)) for group in groups], dtype=np.int64)
    size, count = len(index), len(owners)
    if not count:
        return {}
    fractions = np.array(accelerated, dtype=np.float64)  # None → NaN
    rss = np.array(peak_rss_mb, dtype=np.float64)
    inferences_column = np.fromiter(inferences, np.int64, count)
    sums = {
        "sessions": np.bincount(owners, minlength=size).tolist(),
        "crashed_sessions": np.bincount(owners, weights=np.fromiter(has_crash, bool, count), minlength=size)
        .astype(np.int64).tolist(),
        "inferences": int_sums(owners, inferences_column, size).tolist(),
        "errors": int_sums(owners, np.fromiter(errors, np.int64, count), size).tolist(),
        "latency_zero": int_sums(owners, np.fromiter(latency_zero, np.int64, count), size).tolist(),
        "fallback_sessions": np.bincount(owners, weights=np.fromiter(fallback, bool, count), minlength=size)
        .astype(np.int64).tolist(),
        "lacking_sessions": np.bincount(owners, weights=np.fromiter(lacking, bool, count), minlength=size)
        .astype(np.int64).tolist(),
    }  # fmt: skip
    weighted = ~np.isnan(fractions)
    weighted_owners, weights = owners[weighted], inferences_column[weighted]
    sums["accelerated_weighted_sum"] = np.bincount(
        weighted_owners, weights=fractions[weighted] * weights, minlength=size
    ).tolist()
    sums["accelerated_weight"] = int_sums(weighted_owners, weights, size).tolist()

    lengths = np.fromiter(map(len, latency_counts), np.int64, count)
    cells = int(lengths.sum())
    sums["latency_counts"] = keyed_counts(
        np.repeat(owners, lengths),
        np.fromiter(chain.from_iterable(latency_counts), np.int64, cells),
        np.fromiter(chain.from_iterable(map(dict.values, latency_counts)), np.int64, cells),
        size,
    )
    measured = ~np.isnan(rss)
    rss_owners, rss = owners[measured], rss[measured]
    below = rss < ZERO_THRESHOLD_MS
    sums["rss_zero"] = np.bincount(rss_owners[below], minlength=size).tolist()
    sums["rss_counts"] = keyed_counts(rss_owners[~below], bucket_keys(rss[~below]), None, size)
    _energy_sums(sums, owners, inferences_column, energy, size)
    names = SessionSums.__slots__
    return {group: SessionSums(*values) for group, *values in zip(index, *(sums[name] for name in names), strict=True)}


def _energy_sums(sums: dict, owners, inferences, energy: Sequence[float | None] | None, size: int) -> None:
    if energy is None:
        sums["energy_sessions"] = sums["energy_inferences"] = [0] * size
        sums["energy_weighted_sum"] = [0.0] * size
        return
    values = np.array(energy, dtype=np.float64)  # None → NaN
    reported = ~np.isnan(values)
    reporting, weights = owners[reported], inferences[reported]
    sums["energy_sessions"] = np.bincount(reporting, minlength=size).tolist()
    sums["energy_inferences"] = int_sums(reporting, weights, size).tolist()
    sums["energy_weighted_sum"] = np.bincount(reporting, weights=values[reported] * weights, minlength=size).tolist()


def session_partials_insert(*, device_id: int, columns: dict[str, Sequence[Any]]) -> list[datetime]:
    """Sums the batch's stored sessions per hour × cohort × thermal state into HourlySessionPartial rows, and per
    hour × cell × fallback op into HourlyFallbackPartial rows (a COPY or INSERT each); their hours.

    `columns`: the sessions actually inserted, column by column, named as InferenceSession's (started_at,
    has_crash, inferences, errors, accelerated_fraction, latency_histogram as its wire dict, peak_rss_mb,
    fallback_ops, thermal_state, energy_mj_per_inference and the COHORT_FIELDS).
    """
    if not columns["started_at"]:
        return []
    hours = [int(at.timestamp()) // HOUR_S for at in columns["started_at"]]
    cohorts = zip(*(columns[name] for name in COHORT_FIELDS), strict=True)
    keys = {state: thermal_state_key(state) for state in set(columns["thermal_state"])}  # a batch has a few states
    states = map(keys.__getitem__, columns["thermal_state"])
    groups = list(zip(hours, cohorts, states, strict=True))
    histograms = columns["latency_histogram"]
    lacking = [
        session_lacks_kpi_field(model_version_id=version, latency_counts=histogram.get("counts"),
                                accelerated_fraction=fraction, peak_rss_mb=rss)
        for version, histogram, fraction, rss in zip(
            columns["model_version_id"], histograms, columns["accelerated_fraction"], columns["peak_rss_mb"],
            strict=True,
        )
    ]  # fmt: skip
    summed = sessions_sum(
        groups, has_crash=columns["has_crash"], inferences=columns["inferences"], errors=columns["errors"],
        accelerated=columns["accelerated_fraction"], latency_counts=[histogram["counts"] for histogram in histograms],
        latency_zero=[histogram.get("zero_count", 0) for histogram in histograms], peak_rss_mb=columns["peak_rss_mb"],
        fallback=[bool(ops) for ops in columns["fallback_ops"]], lacking=lacking,
        energy=columns["energy_mj_per_inference"],
    )  # fmt: skip
    starts = {hour: datetime.fromtimestamp(hour * HOUR_S, UTC) for hour, _, _ in summed}
    _insert([
        (
            starts[hour], *cohort, device_id, sums.sessions, sums.crashed_sessions,
            sums.inferences, sums.errors, sums.accelerated_weighted_sum, sums.accelerated_weight,
            sums.latency_counts, sums.latency_zero, sums.rss_counts, sums.rss_zero, sums.fallback_sessions,
            sums.lacking_sessions, state, sums.energy_sessions, sums.energy_inferences, sums.energy_weighted_sum,
        )
        for (hour, cohort, state), sums in summed.items()
    ])  # fmt: skip
    _fallback_partials_insert(device_id=device_id, hours=hours, starts=starts, columns=columns)
    return list(starts.values())


def _fallback_partials_insert(*, device_id: int, hours: list[int], starts: dict, columns: dict) -> None:
    """Per hour × cell × op (upper-cased): the sessions falling back on it, and their accelerated sums."""
    sums: dict[tuple, list] = {}
    normalized: dict[tuple, set[str]] = {}  # a batch repeats a few op lists: each normalized once
    cells = zip(columns["model_version_id"], columns["runtime_version_id"], columns["delegate_id"],
                columns["device_model_id"], strict=True)  # fmt: skip
    for hour, cell, ops, fraction, inferences in zip(
        hours, cells, columns["fallback_ops"], columns["accelerated_fraction"], columns["inferences"], strict=True
    ):
        if not ops:
            continue
        weighted, weight = (0.0, 0) if fraction is None else (fraction * inferences, inferences)
        listed = tuple(ops)
        if (batch_ops := normalized.get(listed)) is None:
            batch_ops = normalized[listed] = fallback_ops_normalized(ops)
        for op in batch_ops:
            acc = sums.get((hour, cell, op))
            if acc is None:
                sums[(hour, cell, op)] = [1, weighted, weight]
            else:
                acc[0], acc[1], acc[2] = acc[0] + 1, acc[1] + weighted, acc[2] + weight
    if sums:
        rows_insert(model=HourlyFallbackPartial, columns=FALLBACK_PARTIAL_COLUMNS, rows=[
            (starts[hour], *cell, device_id, op, n, weighted, weight) for (hour, cell, op), (n, weighted, weight)
            in sums.items()
        ])  # fmt: skip


def crashed_partials_insert(*, flipped: list[tuple]) -> None:
    """One partial per session whose has_crash flipped after its batch summed it: crashed_sessions = 1.

    `flipped`: (started_at, cohort tuple, device_id) of sessions with in_partial set.
    """
    counts: dict[tuple, int] = defaultdict(int)
    for started_at, cohort, device_id in flipped:
        counts[(int(started_at.timestamp()) // HOUR_S, cohort, device_id)] += 1
    _insert([
        (datetime.fromtimestamp(hour * HOUR_S, UTC), *cohort, device_id, 0, crashed, 0, 0, 0.0, 0, {}, 0, {}, 0, 0, 0,
         "", 0, 0, 0.0)
        for (hour, cohort, device_id), crashed in counts.items()
    ])  # fmt: skip


def _insert(rows: list[tuple[Any, ...]]) -> None:
    rows_insert(model=HourlySessionPartial, columns=PARTIAL_COLUMNS, rows=rows)
