"""A compat cell's page shows the field evidence the oracle computes for the cell's trailing seven days."""

from datetime import timedelta

import pytest

from .asserts import assert_percentile, assert_same
from .brute import Oracle, hour_ceil
from .plant import MODEL, RUNTIME, RUNTIME_VERSION

pytestmark = pytest.mark.django_db

EVIDENCE = {"sample_size": "sessions", "accelerated_fraction": "accelerator_utilization",
            "crash_free_sessions": "crash_free_sessions", "errors_per_1k": "errors_per_1k"}  # fmt: skip


@pytest.mark.parametrize("device_model", ["samsung-galaxy-a54", "google-pixel-8"])
def test_cell_page_field_evidence(oracle: Oracle, evidence_now, viewer, device_model):
    from compat.models import CompatEntry

    entry = CompatEntry.objects.get(
        device_model__slug=device_model, model_version__ml_model__slug=MODEL, model_version__version="1.4.0",
        runtime_version__runtime__slug=RUNTIME, runtime_version__version=RUNTIME_VERSION, delegate__slug="gpu",
    )  # fmt: skip
    response = viewer.get(f"/compat/cell/{entry.pk}/")
    assert response.status_code == 200
    field = [e for e in response.context["evidence"] if e.source == "field"]
    assert len(field) == 1
    evidence = field[0]
    end = hour_ceil(evidence_now)
    start = end - timedelta(days=7)  # trailing 7 × 24 h, not the home page's calendar week
    assert (evidence.period_start, evidence.period_end) == (start, end)
    want = oracle.figures(start, end, device_model=device_model, model_version="1.4.0", delegate="gpu")
    for name, figure in EVIDENCE.items():
        assert_same(getattr(evidence, name), getattr(want, figure), name)
    assert_percentile(evidence.p95_latency_ms, want.p95_latency_ms, "p95")
    assert_percentile(evidence.peak_rss_mb_p95, want.peak_rss_mb_p95, "rss p95")
