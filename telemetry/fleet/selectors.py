"""Fleet reads beyond the KPI selectors: the peak-RSS distribution (CPU-fallback ops: fleet/fallback.py)."""

import math
from datetime import datetime, timedelta

from django.db import connection, connections

from edgeportal_client.histogram import bucket_value

from ..kpi.grains import daily_model, hourly_model
from ..kpi.scope import filter_q


def peak_rss_distribution(
    *, start: datetime, end: datetime, filters: dict[str, object], max_bins: int = 40
) -> list[tuple[float, int]]:
    """Sessions per peak-RSS bin (MB) from the rollups' merged RSS histograms: hourly rows up to 2 days, else daily.

    Reads the coarsest grain that keeps the filtered columns (one row per day unfiltered).
    """
    model = (hourly_model if end - start <= timedelta(days=2) else daily_model)(filters=filters)
    rows = model.objects.filter(filter_q(filters), bucket_start__gte=start, bucket_start__lt=end)
    counts = _histogram_counts_merge(rows.values("peak_rss_histogram"), column="peak_rss_histogram")
    if not counts:
        return []
    values = {key: bucket_value(key) for key in counts}
    low, high = min(values.values()), max(values.values())
    width = _nice_width((high - low) / max_bins) if high > low else 1.0
    bins: dict[float, int] = {}
    for key, count in counts.items():
        edge = (values[key] // width) * width
        bins[edge] = bins.get(edge, 0) + count
    return sorted(bins.items())


def _histogram_counts_merge(queryset, *, column: str) -> dict[int, int]:
    """Sums a histogram column's counts over the rows: in SQL on PostgreSQL (rows never reach Python), else here."""
    if connection.vendor == "postgresql":
        sql, params = queryset.query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:  # where the queryset reads: the replica on a page
            cursor.execute(
                f"SELECT kv.key, SUM(kv.value::bigint) FROM ({sql}) r "  # noqa: S608 -- our own compiled queryset
                f"CROSS JOIN LATERAL jsonb_each_text(r.{column} -> 'counts') kv GROUP BY kv.key",
                params,
            )
            return {int(key): int(count) for key, count in cursor.fetchall()}
    counts: dict[int, int] = {}
    for wire in queryset.values_list(column, flat=True).iterator(chunk_size=2000):
        for key, count in ((wire or {}).get("counts") or {}).items():
            counts[int(key)] = counts.get(int(key), 0) + count
    return counts


def _nice_width(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
