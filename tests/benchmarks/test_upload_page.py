"""The upload page: several files at once (one run each), format auto with what was detected, every error at
once, a confirmed registration listing exactly what it creates, JSON answers for the page's script."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from benchmarks.models import BenchmarkRun
from compat.models import ModelVersion, RuntimeVersion

from .conftest import REPO_FIXTURES

URL = "/benchmarks/upload/"
IDENTITY = {
    "format": "auto",
    "model": "mobilenet-v3",
    "model_version": "1.0",
    "runtime": "tflite",
    "runtime_version": "2.16.1",
    "delegate": "gpu",
    "device_model": "google-pixel-8",
}


def _file(name: str, data: bytes | None = None):
    return SimpleUploadedFile(name, data if data is not None else (REPO_FIXTURES / name).read_bytes())


def test_viewer_cannot_open_the_upload_page(client, viewer_user, catalog):
    client.force_login(viewer_user)
    assert client.get(URL).status_code == 403


def test_page_has_no_inline_script_and_loads_its_static_js(client, support_user, catalog):
    client.force_login(support_user)
    html = client.get(URL).content.decode()
    assert 'src="/static/js/upload.js"' in html
    scripts = re.findall(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", html, re.S)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts)
    assert not re.search(r"\son[a-z]+=", html)  # no onclick= / onchange= handlers
    assert 'value="auto" selected' in html  # format auto by default
    assert '"tflite": {"versions": ["2.16.1"], "delegates": ["gpu", "xnnpack"]}' in html  # dependent choices


def test_several_files_make_one_run_each_with_the_detected_format_and_a_link(client, support_user, catalog):
    client.force_login(support_user)
    files = [_file("tflite_2020_espcn_cpu_issue42507.log"), _file("tflite_litert2_benchmark_results_gpu_llama.log")]
    response = client.post(URL, {**IDENTITY, "artifacts": files})
    assert response.status_code == 200
    runs = list(BenchmarkRun.objects.order_by("id"))
    assert [run.source_format for run in runs] == ["tflite_benchmark_model"] * 2
    assert all(run.source_format_detected for run in runs)
    html = response.content.decode()
    for run in runs:
        assert f'href="/benchmarks/runs/{run.id}/"' in html
    assert html.count("(detected)") == 2


def test_every_error_is_shown_at_once_and_good_files_are_still_stored(client, support_user, catalog):
    client.force_login(support_user)
    files = [_file("empty.log", b""), _file("notes.txt", b"hello\n"), _file("tflite_2020_espcn_cpu_issue42507.log")]
    response = client.post(URL, {**IDENTITY, "artifacts": files})
    assert response.status_code == 400
    html = response.content.decode()
    assert "empty file" in html
    assert "format not recognised" in html and "trtexec_log" in html
    assert BenchmarkRun.objects.count() == 1


def test_form_errors_are_all_reported_together(client, support_user, catalog):
    client.force_login(support_user)
    response = client.post(
        URL, {**IDENTITY, "model": "nope", "delegate": "nnapi", "config": "[1]", "artifacts": [_file("a.log", b"x")]}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"model", "delegate", "config"} <= set(errors)
    assert not BenchmarkRun.objects.exists()


def test_registration_needs_the_confirmed_list_and_creates_exactly_it(client, support_user, catalog):
    client.force_login(support_user)
    identity = {**IDENTITY, "model_version": "1.1", "runtime_version": "2.17.0"}
    response = client.post(URL, {**identity, "artifacts": [_file("tflite_2020_espcn_cpu_issue42507.log")]})
    assert response.status_code == 400
    listed = response.context["to_register"]
    assert listed == ["model version mobilenet-v3 1.1", "runtime version tflite 2.17.0"]
    assert "Registering creates exactly these catalog rows" in response.content.decode()
    assert not ModelVersion.objects.filter(version="1.1").exists() and not BenchmarkRun.objects.exists()

    # ticking the box for another list than the one shown registers nothing
    response = client.post(
        URL,
        {**identity, "register_versions": "on", "register_confirmed": [listed[0]],
         "artifacts": [_file("tflite_2020_espcn_cpu_issue42507.log")]},
    )  # fmt: skip
    assert response.status_code == 400
    assert not RuntimeVersion.objects.filter(version="2.17.0").exists()

    response = client.post(
        URL,
        {**identity, "register_versions": "on", "register_confirmed": listed,
         "artifacts": [_file("tflite_2020_espcn_cpu_issue42507.log")]},
    )  # fmt: skip
    assert response.status_code == 200
    assert ModelVersion.objects.filter(ml_model__slug="mobilenet-v3", version="1.1").count() == 1
    assert RuntimeVersion.objects.filter(runtime__slug="tflite", version="2.17.0").count() == 1
    assert BenchmarkRun.objects.get().model_version.version == "1.1"


def test_the_script_gets_json_per_file(client, support_user, catalog):
    client.force_login(support_user)
    response = client.post(
        URL,
        {**IDENTITY, "artifacts": [_file("tflite_2020_espcn_cpu_issue42507.log")]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    (result,) = response.json()["results"]
    run = BenchmarkRun.objects.get()
    assert result == {
        "filename": "tflite_2020_espcn_cpu_issue42507.log",
        "ok": True,
        "run": run.id,
        "status": "done",
        "url": f"/benchmarks/runs/{run.id}/",
        "source_format": "tflite_benchmark_model",
        "detected": True,
        "tool_version": "",
        "errors": {},
        "to_register": [],
        "tried": {},
    }


def test_json_answer_for_a_bad_file_says_not_ok_with_the_reason(client, support_user, catalog):
    client.force_login(support_user)
    response = client.post(
        URL, {**IDENTITY, "artifacts": [_file("x.bin", b"\x00\x01")]}, HTTP_ACCEPT="application/json"
    )
    body = response.json()
    assert body["ok"] is False and body["results"][0]["ok"] is False
    assert "binary file" in body["results"][0]["errors"]["artifact"]
    assert not BenchmarkRun.objects.exists()
