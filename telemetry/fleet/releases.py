"""Release comparison: the KPIs of two releases side by side, each change with its significance verdict."""

from functools import cmp_to_key

from compat.models import ModelVersion

from ..ingest.crashes import version_newer
from ..kpi.kpis import Kpis
from ..models import Device
from . import comparison

COMPARE_ROWS = (
    ("Sessions", "sessions", "{:,}"),
    ("p50 latency (ms)", "p50_latency_ms", "{:.1f}"),
    ("p95 latency (ms)", "p95_latency_ms", "{:.1f}"),
    ("p99 latency (ms)", "p99_latency_ms", "{:.1f}"),
    ("Crash-free sessions", "crash_free_sessions", "{:.3%}"),
    ("Errors per 1k", "errors_per_1k", "{:.3f}"),
    ("Accelerator utilization", "accelerator_utilization", "{:.1%}"),
    ("Peak RSS p95 (MB)", "peak_rss_mb_p95", "{:.0f}"),
    ("Devices", "devices", "{:,}"),
)


HIGHER_IS_BETTER = {
    "crash_free_sessions": True,
    "errors_per_1k": False,
    "p50_latency_ms": False,
    "p95_latency_ms": False,
    "p99_latency_ms": False,
}


def release_compare_rows(*, a: Kpis, b: Kpis) -> list[dict]:
    """Every KPI of A and B side by side, with the change and its significance verdict."""
    tests = {
        "crash_free_sessions": comparison.two_proportion_test(
            successes_a=a.sessions - a.crashed_sessions, total_a=a.sessions,
            successes_b=b.sessions - b.crashed_sessions, total_b=b.sessions,
        ),
        "errors_per_1k": comparison.poisson_rate_test(
            events_a=a.errors, exposure_a=a.inferences, events_b=b.errors, exposure_b=b.inferences
        ),
    }  # fmt: skip
    for attr in ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms"):
        tests[attr] = comparison.latency_change(a_ms=getattr(a, attr), b_ms=getattr(b, attr))
    rows = []
    for label, attr, pattern in COMPARE_ROWS:
        va, vb = getattr(a, attr), getattr(b, attr)
        result = tests.get(attr) or comparison.plain_change(a=va, b=vb)
        direction = ""
        if result.is_significant and result.delta and attr in HIGHER_IS_BETTER:
            direction = "better" if (result.delta > 0) == HIGHER_IS_BETTER[attr] else "worse"
        rows.append(
            {
                "label": label,
                "a": None if va is None else pattern.format(va),
                "b": None if vb is None else pattern.format(vb),
                "result": result,
                "informational": attr in ("sessions", "devices"),
                "direction": direction,
            }
        )
    return rows


def release_options(*, by: str, model: str | None) -> list[str]:
    """The releases one can compare: the chosen model's versions (newest first), or the fleet's app versions."""
    if by == "model_version":
        if not model:
            return []
        return list(ModelVersion.objects.filter(ml_model__slug=model).order_by("-id").values_list("version", flat=True))
    versions = Device.objects.exclude(app_version="").order_by().values_list("app_version", flat=True).distinct()
    newest_first = cmp_to_key(lambda x, y: -1 if version_newer(x, y) else (1 if version_newer(y, x) else 0))
    return sorted(versions, key=newest_first)
