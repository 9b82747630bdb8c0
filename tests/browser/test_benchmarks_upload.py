"""The upload page's script in a real browser: two files, one run each with its link, a bad file's reason, a
registration confirmed for exactly the listed versions, delegates following the runtime."""

import pytest

from benchmarks.models import BenchmarkRun
from compat.models import ModelVersion
from tests.benchmarks.conftest import REPO_FIXTURES, catalog  # noqa: F401

from .conftest import screenshot

pytestmark = pytest.mark.usefixtures("catalog")


def _fill_identity(page, model_version="1.0"):
    page.select_option("select[name=model]", "mobilenet-v3")
    page.fill("input[name=model_version]", model_version)
    page.select_option("select[name=runtime]", "tflite")
    page.fill("input[name=runtime_version]", "2.16.1")
    page.select_option("select[name=delegate]", "gpu")
    page.select_option("select[name=device_model]", "google-pixel-8")


def test_lab_engineer_uploads_two_logs_and_sees_a_link_per_run(logged_in_page, support_user, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a tool output\n")
    page = logged_in_page("support-sam")
    page.goto("/benchmarks/upload/")
    _fill_identity(page)
    page.set_input_files(
        "input[name=artifacts]",
        [str(REPO_FIXTURES / "tflite_2020_espcn_cpu_issue42507.log"), str(REPO_FIXTURES / "tflite_yolov5s_fp32_cpu.log"),
         str(bad)],
    )  # fmt: skip
    page.get_by_role("button", name="Import").click()
    # A locator wait, not wait_for_function: a string predicate is evaluated with eval, which the CSP forbids.
    page.locator("[data-results-body] tr").nth(2).wait_for()
    assert page.locator("[data-results-body] tr").count() == 3
    runs = list(BenchmarkRun.objects.order_by("id"))
    assert len(runs) == 2
    for run in runs:
        assert page.locator(f'a[href="/benchmarks/runs/{run.id}/"]').is_visible()
    assert page.get_by_text("format not recognised").first.is_visible()
    assert page.locator("[data-results-body]").inner_text().count("(detected)") == 2
    screenshot(page, "benchmarks-upload-results")


def test_registration_is_confirmed_for_the_listed_versions_then_the_file_is_resent(logged_in_page, support_user):
    page = logged_in_page("support-sam")
    page.goto("/benchmarks/upload/")
    _fill_identity(page, model_version="1.1")
    page.set_input_files("input[name=artifacts]", str(REPO_FIXTURES / "tflite_2020_espcn_cpu_issue42507.log"))
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("[data-register]:not([hidden])")
    assert page.locator("[data-register-list]").inner_text().strip() == "model version mobilenet-v3 1.1"
    assert not BenchmarkRun.objects.exists()
    page.check("input[name=register_versions]")
    page.get_by_role("button", name="Import").click()
    page.wait_for_selector("[data-results-body] a")
    assert ModelVersion.objects.filter(ml_model__slug="mobilenet-v3", version="1.1").count() == 1
    assert BenchmarkRun.objects.count() == 1


def test_delegate_choices_follow_the_runtime(logged_in_page, support_user):
    page = logged_in_page("support-sam")
    page.goto("/benchmarks/upload/")
    page.select_option("select[name=runtime]", "onnxruntime")
    assert page.eval_on_selector("select[name=delegate]", "el => el.value") == "cpu"
    visible = page.eval_on_selector_all(
        "select[name=delegate] optgroup:not([disabled])", "groups => groups.map(g => g.label)"
    )
    assert visible == ["onnxruntime"]
    assert page.eval_on_selector_all("#runtime-versions option", "options => options.map(o => o.value)") == ["1.31.1"]
