"""The PM and support journey through the matrix: open it, filter it, open a cell, save an override."""

import pytest

from compat.models import CompatEntry, EvidenceSource
from compat.services import compat_evidence_record
from tests.browser.conftest import screenshot
from tests.compat.conftest import catalog, evidence  # noqa: F401 - the catalog fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def matrix_cells(catalog):  # noqa: F811
    c = catalog
    items = [
        evidence(
            model_version=c.mnv3_int8,
            runtime_version=c.tflite_216,
            delegate=c.gpu,
            device_model=c.pixel,
            p95_latency_ms=30.0,
            crash_free_sessions=0.999,
        ),
        evidence(
            model_version=c.mnv3_int8,
            runtime_version=c.tflite_216,
            delegate=c.gpu,
            device_model=c.galaxy,
            p95_latency_ms=300.0,
            crash_free_sessions=0.999,
        ),
        evidence(
            model_version=c.yolo_fp16,
            runtime_version=c.ort_118,
            delegate=c.cuda,
            device_model=c.jetson,
            source=EvidenceSource.LAB,
            source_ref="lab:run:9",
            sample_size=1,
            load_failed=True,
            failure_reason="TensorRT engine build failed",
        ),
    ]
    return compat_evidence_record(items=items, actor="field rollup")


def test_support_filters_the_matrix_opens_a_cell_and_saves_an_override(logged_in_page, support_user, matrix_cells):
    page = logged_in_page("support-sam")
    page.goto("/compat/")
    matrix = page.locator("#compat-matrix")
    assert matrix.get_by_label("Supported", exact=True).count() == 1
    assert matrix.get_by_label("Degraded", exact=True).count() == 1
    screenshot(page, "compat-matrix")

    page.locator("label[for=id_tier-search]").click()  # the multi-select is a searchable dropdown (multiselect.js)
    page.get_by_role("group", name="Tier choices").locator("input[value='2']").check()
    page.keyboard.press("Escape")  # the open list lies over the form's buttons; Escape closes it, the choice stays
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**tier=2**")
    assert matrix.get_by_label("Supported", exact=True).count() == 0
    degraded = matrix.get_by_label("Degraded", exact=True)
    assert "p95" in degraded.locator("xpath=..").get_attribute("title")
    screenshot(page, "compat-matrix-filtered")

    degraded.click()
    page.wait_for_url("**/compat/cell/**")
    assert "p95 latency 300 ms" in page.content()
    page.locator("#id_status").select_option("supported")
    page.locator("#id_reason").fill("Accepted for the tier-2 beta; see ticket EP-12")
    page.get_by_role("button", name="Save override").click()
    page.wait_for_load_state()
    assert page.locator("#shown-status").inner_text().strip().endswith("Supported")
    assert page.locator("#derived-status").inner_text().strip().endswith("Degraded")
    screenshot(page, "compat-cell-override")
    entry = CompatEntry.objects.get(device_model__slug="samsung-galaxy-a54")
    assert (entry.override_status, entry.derived_status) == ("supported", "degraded")
