import csv
import io
import json

import pytest

from compat.models import CompatEntry, CompatStatusChange, EvidenceSource

pytestmark = pytest.mark.django_db

HEALTHY = dict(p95_latency_ms=30.0, accelerated_fraction=0.99, crash_free_sessions=0.999, errors_per_1k=0.1)


@pytest.fixture
def cells(catalog, push):
    c = catalog
    good = push(
        model_version=c.mnv3_int8, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel, **HEALTHY
    )
    slow = push(
        model_version=c.mnv3_int8,
        runtime_version=c.tflite_216,
        delegate=c.xnnpack,
        device_model=c.pixel,
        **{**HEALTHY, "p95_latency_ms": 90.0},
    )
    failed = push(
        model_version=c.yolo_fp16,
        runtime_version=c.ort_118,
        delegate=c.cuda,
        device_model=c.galaxy,
        source=EvidenceSource.LAB,
        source_ref="lab:run:7",
        sample_size=1,
        load_failed=True,
        failure_reason="CUDA EP unavailable",
    )
    return {"good": good, "slow": slow, "failed": failed}


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


@pytest.fixture
def support_client(client, support_user):
    client.force_login(support_user)
    return client


def test_matrix_shows_best_status_per_model_version_and_device_with_text_and_tooltip(viewer_client, cells):
    response = viewer_client.get("/compat/")
    assert response.status_code == 200
    html = response.content.decode()
    # Best of the two paths on the Pixel is the supported GPU path, linked to its cell.
    assert f'href="/compat/cell/{cells["good"].id}/" aria-label="Supported">✔' in html
    assert "best of 2 paths: tflite 2.16.1/gpu" in html
    assert 'aria-label="Unsupported">✖' in html
    assert 'title="No compat evidence' in html  # catalog gaps are visible
    assert "MobileNetV3-Large" in html and "Galaxy A54" in html


def test_matrix_needs_a_bounded_number_of_queries(viewer_client, cells, catalog, push, django_assert_max_num_queries):
    # 15 for the matrix, 5 for its lab-coverage states (labfield.coverage: rollup cells, runtime versions, devices
    # from activity and today's raw edge, lab runs).
    with django_assert_max_num_queries(20):
        viewer_client.get("/compat/")


@pytest.mark.parametrize(
    "params, present, absent",
    [
        ("status=unsupported", ["✖"], ["✔"]),
        ("runtime=onnxruntime", ["YOLOv8n"], ["MobileNetV3-Large"]),
        ("vendor=Samsung", ["Galaxy A54"], ["Pixel 8"]),
        ("tier=1", ["Pixel 8"], ["Galaxy A54"]),
        ("q=yolov8n", ["YOLOv8n"], ["MobileNetV3-Large"]),
    ],
)
def test_matrix_filters_narrow_rows_and_columns(viewer_client, cells, params, present, absent):
    html = viewer_client.get(f"/compat/?{params}").content.decode()
    table = html.split('id="compat-matrix"', 1)[1]
    for text in present:
        assert text in table
    for text in absent:
        assert text not in table


@pytest.mark.parametrize(
    "params", ["runtime=nosuch", "model_version=nosuch@1", "model_version=no-at-sign", "tier=9", "model_id=abc"]
)
def test_bad_filter_values_show_a_form_error_not_a_500(viewer_client, cells, params):
    response = viewer_client.get(f"/compat/?{params}")
    assert response.status_code == 400
    assert "Some filters are not valid" in response.content.decode()


def test_pivot_by_runtime_for_one_model_version(viewer_client, cells):
    response = viewer_client.get("/compat/?pivot=runtimes&model_version=mobilenet-v3-large@1.0-int8")
    html = response.content.decode()
    assert response.status_code == 200
    assert "tflite 2.16.1/gpu" in html and "tflite 2.16.1/xnnpack" in html
    assert "Pixel 8" in html


def test_pivot_without_one_model_version_explains_what_to_pick(viewer_client, cells):
    html = viewer_client.get("/compat/?pivot=runtimes").content.decode()
    assert "Pick exactly one model version" in html


def test_cell_page_shows_evidence_reason_and_history(viewer_client, cells):
    html = viewer_client.get(f"/compat/cell/{cells['slow'].id}/").content.decode()
    assert "p95 latency 90 ms &gt; 50 ms budget" in html
    assert "field:30d" in html and "Derived from evidence" in html
    assert "Save override" not in html  # viewers see no override form


def test_support_saves_an_override_on_the_cell_page(support_client, cells, support_user):
    entry = cells["slow"]
    response = support_client.post(
        f"/compat/cell/{entry.id}/", {"action": "override", "status": "supported", "reason": "Acceptable for beta"}
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.override_status, entry.derived_status) == ("supported", "degraded")
    html = support_client.get(f"/compat/cell/{entry.id}/").content.decode()
    assert "manual override" in html and "Acceptable for beta" in html


def test_override_without_reason_on_the_page_is_a_form_error(support_client, cells):
    response = support_client.post(f"/compat/cell/{cells['slow'].id}/", {"action": "override", "status": "supported"})
    assert response.status_code == 400
    assert CompatEntry.objects.get(pk=cells["slow"].id).override_status == ""


def test_viewer_posting_an_override_gets_403_and_nothing_changes(viewer_client, cells):
    response = viewer_client.post(
        f"/compat/cell/{cells['slow'].id}/", {"action": "override", "status": "supported", "reason": "x"}
    )
    assert response.status_code == 403
    assert not CompatStatusChange.objects.filter(kind="override").exists()
    # The 403 page, in the layout, says which role to ask an admin for.
    assert 'This needs the <span class="role role-support">support</span> role' in response.content.decode()


def test_support_edits_known_issues_on_the_page(support_client, cells):
    support_client.post(f"/compat/cell/{cells['good'].id}/", {"action": "notes", "known_issues": "See crash group 12"})
    assert CompatEntry.objects.get(pk=cells["good"].id).known_issues == "See crash group 12"


def test_changes_page_lists_recent_status_changes(viewer_client, cells):
    html = viewer_client.get("/compat/changes/?days=7").content.decode()
    assert "CUDA EP unavailable" in html and "field rollup" in html
    assert viewer_client.get("/compat/changes/?days=abc").status_code == 400


def test_changes_are_paged_and_exported_with_the_pages_period(viewer_client, cells, django_assert_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from compat.models import CompatStatusChange

    entry = cells["good"]
    for i in range(120):
        CompatStatusChange.objects.create(entry=entry, from_status="untested", to_status="supported", kind="manual",
                                          actor=f"=cmd|{i}", reason="bulk")  # fmt: skip
    old = CompatStatusChange.objects.create(entry=entry, from_status="supported", to_status="degraded", kind="manual",
                                            actor="old", reason="outside the period")  # fmt: skip
    CompatStatusChange.objects.filter(pk=old.pk).update(changed_at=timezone.now() - timedelta(days=30))
    expected = CompatStatusChange.objects.filter(changed_at__gte=timezone.now() - timedelta(days=7)).count()
    first = viewer_client.get("/compat/changes/?days=7")
    assert len(first.context["changes"]) == 50 and first.context["page"].paginator.count == expected
    last = viewer_client.get(f"/compat/changes/?days=7&page={first.context['page'].paginator.num_pages}")
    assert len(last.context["changes"]) == expected - 50 * (first.context["page"].paginator.num_pages - 1)
    with django_assert_num_queries(first_count := len(_queries(viewer_client, "/compat/changes/?days=7&page=2"))):
        viewer_client.get("/compat/changes/?days=7&page=3")  # a page costs the same whichever it is
    assert first_count <= 8
    rows = list(csv.DictReader(io.StringIO(viewer_client.get("/compat/changes/export.csv?days=7").content.decode())))
    assert len(rows) == expected and all(row["actor"] != "old" for row in rows)
    assert rows[0]["actor"].startswith("'=cmd|")  # a formula-looking text is never run by a spreadsheet
    body = json.loads(viewer_client.get("/compat/changes/export.json?days=7").content)
    assert body["days"] == 7 and len(body["results"]) == expected and body["results"][0]["actor"].startswith("=cmd|")
    assert viewer_client.get("/compat/changes/export.xml").status_code == 404


def _queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return captured.captured_queries


def test_csv_export_has_one_row_per_cell_and_honours_filters(viewer_client, cells):
    response = viewer_client.get("/compat/export.csv?runtime=tflite")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    assert {row["status"] for row in rows} == {"supported", "degraded"}
    assert rows[0]["model_version"] == "mobilenet-v3-large@1.0-int8"


def test_json_export_and_bad_filter(viewer_client, cells):
    body = json.loads(viewer_client.get("/compat/export.json").content)
    assert body["count"] == 3
    failed = next(row for row in body["results"] if row["status"] == "unsupported")
    assert failed["delegate"] == "onnxruntime/cuda" and "CUDA EP unavailable" in failed["derived_reason"]
    assert viewer_client.get("/compat/export.json?delegate=tflite/nosuch").status_code == 400
