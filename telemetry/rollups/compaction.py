"""Partial compaction: an hour's ingest partials merged down to one row per device × cohort × thermal state (session
partials) and per device × cell × op (fallback partials), under the hour's rollup lock.

Ingest writes partials per batch, and every recompute of a busy hour reads all of the hour's partials: without
compaction a recompute costs per batch the hour has received so far (a device posting every few seconds makes
hundreds of rows an hour), so its cost grows through the hour. Compacted at each recompute, an hour holds about a
row per active device and cohort plus the batches since the last recompute.

Exact against concurrent ingest without locking it out: the rows merged are deleted by id, so a batch committed
after they were read keeps its own row for the next recompute; the merged row carries the same sums, and its
histogram counts are the key-wise sums.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import msgspec
from django.db import models
from django.db.models import TextField
from django.db.models.functions import Cast

from ..ingest.bulk import rows_insert
from ..ingest.partials import FALLBACK_PARTIAL_COLUMNS, PARTIAL_COLUMNS
from ..models import HourlyFallbackPartial, HourlySessionPartial
from ..models.fallback import FALLBACK_CELL_FIELDS
from ..models.rollups import COHORT_FIELDS

_counts_decode = msgspec.json.Decoder(dict[str, int]).decode
DELETE_CHUNK = 900  # ids per DELETE: under SQLite's bound on parameters of one statement

# A merged row keeps its key columns, merges its histogram counts (JSON) key-wise and sums every other column.
_SESSION_COUNTS = ("latency_counts", "rss_counts")
_SESSION_KEY = ("bucket_start", *COHORT_FIELDS, "device_id", "thermal_state")
_FALLBACK_KEY = ("bucket_start", *FALLBACK_CELL_FIELDS, "device_id", "op")


def hour_partials_compact(hour: datetime) -> int:
    """Merges the hour's session and fallback partials sharing a key; the number of rows removed. Call it in the
    transaction that holds the hour's rollup lock (rollups/hourly.py)."""
    return _compact(HourlySessionPartial, PARTIAL_COLUMNS, _SESSION_KEY, hour) + _compact(
        HourlyFallbackPartial, FALLBACK_PARTIAL_COLUMNS, _FALLBACK_KEY, hour
    )


def _compact(model: type[models.Model], columns: Sequence[str], key: Sequence[str], hour: datetime) -> int:
    counts = [name for name in columns if name in _SESSION_COUNTS]
    # Histogram counts as text for msgspec (Django's JSONField decoding is the slower half of a read).
    read = [Cast(name, output_field=TextField()) if name in counts else name for name in columns]
    rows = list(model.objects.filter(bucket_start=hour).values_list("id", *read))
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    positions = [columns.index(name) + 1 for name in key]
    for row in rows:
        groups[tuple(row[position] for position in positions)].append(row)
    merging = [group for group in groups.values() if len(group) > 1]
    if not merging:
        return 0
    count_positions = {columns.index(name) + 1 for name in counts}
    merged = []
    for group in merging:
        values = list(group[0][1:])
        for position, name in enumerate(columns, start=1):
            if name in key:
                continue
            if position in count_positions:
                total: dict[str, int] = defaultdict(int)
                for row in group:
                    for bucket, count in _counts_decode(row[position]).items():
                        total[bucket] += count
                values[position - 1] = dict(total)
            else:
                values[position - 1] = sum(row[position] for row in group)
        merged.append(tuple(values))
    ids = [row[0] for group in merging for row in group]
    for start in range(0, len(ids), DELETE_CHUNK):
        model.objects.filter(id__in=ids[start : start + DELETE_CHUNK]).delete()
    rows_insert(model=model, columns=columns, rows=merged)
    return len(ids) - len(merged)
