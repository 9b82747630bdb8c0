import pytest
from django.core.exceptions import ValidationError

from compat.models import CompatEntry, CompatEvidence, CompatStatus, CompatStatusChange, EvidenceSource
from compat.services import compat_evidence_record

from .conftest import evidence

pytestmark = pytest.mark.django_db

HEALTHY = dict(
    p95_latency_ms=30.0, accelerated_fraction=0.99, crash_free_sessions=0.999, errors_per_1k=0.1, peak_rss_mb_p95=120.0
)


def cell(c, **overrides):
    kwargs = dict(model_version=c.mnv3_int8, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel)
    kwargs.update(overrides)
    return kwargs


def test_first_push_creates_the_cell_with_budgets_and_a_derived_status(catalog):
    entry = compat_evidence_record(items=[evidence(**cell(catalog), **HEALTHY)], actor="field rollup")[0]
    assert entry.derived_status == CompatStatus.SUPPORTED
    stored = CompatEvidence.objects.get(entry=entry)
    assert stored.latency_budget_ms == 50.0 and stored.memory_budget_mb == 400
    change = CompatStatusChange.objects.get(entry=entry)
    assert (change.kind, change.from_status, change.to_status, change.actor) == (
        "derived",
        "untested",
        "supported",
        "field rollup",
    )


def test_repushing_the_same_source_ref_replaces_figures_instead_of_adding_rows(catalog):
    compat_evidence_record(items=[evidence(**cell(catalog), **HEALTHY)], actor="field rollup")
    slow = {**HEALTHY, "p95_latency_ms": 80.0}
    entry = compat_evidence_record(items=[evidence(**cell(catalog), **slow)], actor="field rollup")[0]
    assert CompatEvidence.objects.filter(entry=entry).count() == 1
    assert CompatEvidence.objects.get(entry=entry).p95_latency_ms == 80.0
    assert entry.derived_status == CompatStatus.DEGRADED
    assert "p95 latency 80 ms > 50 ms" in entry.derived_reason


def test_history_is_written_only_when_the_derived_status_changes(catalog):
    for _ in range(3):
        compat_evidence_record(items=[evidence(**cell(catalog), **HEALTHY)], actor="field rollup")
    assert CompatStatusChange.objects.count() == 1


def test_status_is_derived_from_all_evidence_of_the_cell_not_just_the_pushed_item(catalog):
    compat_evidence_record(
        items=[
            evidence(
                **cell(catalog),
                source=EvidenceSource.LAB,
                source_ref="lab:run:1",
                sample_size=5,
                load_failed=True,
                failure_reason="Failed to apply GPU delegate",
            )
        ],
        actor="lab run 1",
    )
    entry = compat_evidence_record(items=[evidence(**cell(catalog), sample_size=3, **HEALTHY)], actor="rollup")[0]
    assert entry.derived_status == CompatStatus.UNSUPPORTED
    assert "GPU delegate" in entry.derived_reason


def test_a_batch_touching_many_cells_runs_a_fixed_number_of_queries(catalog, django_assert_num_queries):
    c = catalog

    def batch(devices):
        return [
            evidence(**cell(c, device_model=d, model_version=mv, delegate=dl), **HEALTHY)
            for d in devices
            for mv in (c.mnv3_int8, c.mnv3_fp32)
            for dl in (c.gpu, c.xnnpack)
        ]

    # savepoint, device models, delegates, SLO targets, create cells, lock cells, upsert evidence,
    # read evidence, update cells, write history, release savepoint.
    with django_assert_num_queries(11):
        compat_evidence_record(items=batch([c.pixel]), actor="rollup")
    with django_assert_num_queries(11):
        compat_evidence_record(items=batch([c.pixel, c.galaxy, c.jetson]), actor="rollup")
    assert CompatEntry.objects.count() == 12


def test_duplicate_keys_in_one_batch_keep_the_last_item(catalog):
    items = [evidence(**cell(catalog), p95_latency_ms=10.0), evidence(**cell(catalog), p95_latency_ms=99.0)]
    entry = compat_evidence_record(items=items, actor="rollup")[0]
    assert CompatEvidence.objects.get(entry=entry).p95_latency_ms == 99.0


@pytest.mark.parametrize(
    "bad",
    [dict(source="telepathy"), dict(source_ref=""), dict(sample_size=-1)],
    ids=["unknown-source", "empty-ref", "negative-sample"],
)
def test_invalid_evidence_is_rejected_and_nothing_is_stored(catalog, bad):
    with pytest.raises(ValidationError):
        compat_evidence_record(items=[evidence(**cell(catalog), **bad)], actor="rollup")
    assert not CompatEntry.objects.exists() and not CompatEvidence.objects.exists()


def test_empty_batch_is_a_no_op(db):
    assert compat_evidence_record(items=[], actor="rollup") == []


def test_a_degrading_item_degrades_the_cell_and_withdrawing_it_re_derives(catalog):
    from compat.services import compat_evidence_withdraw

    compat_evidence_record(items=[evidence(**cell(catalog), **HEALTHY)], actor="field rollup")
    finding = evidence(**cell(catalog), source_ref="field:drift", sample_size=12, degraded_reason="ops fall back")
    entry = compat_evidence_record(items=[finding], actor="labfield.drift")[0]
    assert entry.derived_status == CompatStatus.DEGRADED and "ops fall back" in entry.derived_reason
    other = cell(catalog, delegate=catalog.xnnpack)
    compat_evidence_record(items=[evidence(**other, **HEALTHY)], actor="field rollup")
    keys = [(c["model_version"].id, c["runtime_version"].id, c["delegate"].id, c["device_model"].id)
            for c in (cell(catalog), other)]  # fmt: skip
    withdrawn = compat_evidence_withdraw(cells=keys, source=EvidenceSource.FIELD, source_ref="field:drift",
                                         actor="labfield.drift")  # fmt: skip
    assert [e.pk for e in withdrawn] == [entry.pk]  # the other cell had no such item: untouched
    entry.refresh_from_db()
    assert entry.derived_status == CompatStatus.SUPPORTED
    assert list(CompatEvidence.objects.filter(entry=entry).values_list("source_ref", flat=True)) == ["field:30d"]
    assert CompatStatusChange.objects.filter(entry=entry, actor="labfield.drift", to_status="supported").exists()
    assert compat_evidence_withdraw(cells=keys, source=EvidenceSource.FIELD, source_ref="field:drift", actor="x") == []
