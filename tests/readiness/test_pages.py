"""Release-readiness pages: the list, a version's report with its exports, the compat cell's card; query counts
pinned whatever the number of devices, sessions and crashes."""

import csv
import io
import re

import pytest

from readiness import rules

from .conftest import raw_sessions, release_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, viewer_user):
    client.force_login(viewer_user)
    return client


def test_a_viewer_reads_the_release_page_with_every_path_and_its_figures(viewer_client, release):
    response = viewer_client.get("/releases/yolov8n/1.5.0/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="version-verdict"' in html and "Not ready" in html
    for entry in (release.pixel_gpu, release.galaxy_gpu, release.pixel_cpu):
        row = re.search(rf'<tr id="cell-{entry.pk}">(.*?)</tr>', html, re.S).group(1)
        assert f'href="/compat/cell/{entry.pk}/"' in row
        sessions = raw_sessions(release, entry)
        cells = re.findall(r'<td class="num">(?:<a href="[^"]*">)?(\d+)', row)
        assert cells == [str(len(sessions)), str(len({s.device_id for s in sessions}))]
    assert f'href="/crashes/{release.open_group.pk}/"' in html
    assert f"/benchmarks/regressions/?series={release.regression.series_id}&amp;status=open" in html
    c = release.c
    moment = "%Y-%m-%dT%H%%3A%M%%3A%SZ"
    fleet_link = (
        f"/fleet/?range=custom&amp;from={release.start.strftime(moment)}&amp;to={release.end.strftime(moment)}"
        f"&amp;model_version_id={c.v2.pk}&amp;runtime_version_id={c.tflite_216.pk}"
        f"&amp;delegate_id={c.gpu.pk}&amp;device_model_id={c.galaxy.pk}"
    )
    assert fleet_link in html


def test_the_fleet_link_of_a_path_shows_exactly_its_sessions(viewer_client, release):
    html = viewer_client.get("/releases/yolov8n/1.5.0/").content.decode()
    row = re.search(rf'<tr id="cell-{release.galaxy_gpu.pk}">(.*?)</tr>', html, re.S).group(1)
    link = re.search(r'<td class="num"><a href="([^"]+)">', row).group(1).replace("&amp;", "&")
    response = viewer_client.get(link)
    assert response.status_code == 200
    assert response.context["kpis"].sessions == len(raw_sessions(release, release.galaxy_gpu))


def test_unknown_model_version_is_a_404(viewer_client, release):
    assert viewer_client.get("/releases/yolov8n/9.9.9/").status_code == 404
    assert viewer_client.get("/releases/yolov8n/1.5.0/export.pdf").status_code == 404


def test_the_csv_export_has_one_row_per_path_with_the_pages_figures(viewer_client, release):
    response = viewer_client.get("/releases/yolov8n/1.5.0/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="release-readiness-yolov8n-1.5.0.csv"' in response["Content-Disposition"]
    rows = {int(row["entry_id"]): row for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert set(rows) == {release.pixel_gpu.pk, release.galaxy_gpu.pk, release.pixel_cpu.pk}
    galaxy = rows[release.galaxy_gpu.pk]
    sessions = raw_sessions(release, release.galaxy_gpu)
    assert (galaxy["field_sessions"], galaxy["field_devices"]) == (str(len(sessions)), "4")
    assert (galaxy["verdict"], galaxy["version_verdict"], galaxy["latency_budget_ms"]) == ("not_ready", "not_ready",
                                                                                           "120.0")  # fmt: skip
    assert galaxy["reasons"].startswith("p95 latency ")
    assert rows[release.pixel_cpu.pk]["open_lab_regressions"] == "1"
    assert rows[release.pixel_gpu.pk]["open_crash_groups"] == "1"


def test_the_markdown_export_is_a_release_note_with_linked_reasons(viewer_client, release):
    response = viewer_client.get("/releases/yolov8n/1.5.0/export.md")
    assert response["Content-Type"].startswith("text/markdown")
    text = response.content.decode()
    assert text.startswith("## YOLOv8n 1.5.0: ✖ Not ready\n")
    assert "- not ready on Samsung Galaxy A54: p95 latency " in text
    assert "| Device model | Path | Verdict | Sessions | Devices | Reasons |" in text
    assert f"(http://testserver/crashes/{release.open_group.pk}/)" in text
    assert text.count("\n| Google Pixel 8 |") == 2 and text.count("\n| Samsung Galaxy A54 |") == 1


def test_the_cell_page_links_to_its_verdict_card_and_the_card_renders_it(viewer_client, release):
    entry = release.galaxy_gpu
    html = viewer_client.get(f"/compat/cell/{entry.pk}/").content.decode()
    assert f'data-fragment-src="/releases/cells/{entry.pk}/card/"' in html
    assert f'href="/releases/yolov8n/1.5.0/#cell-{entry.pk}"' in html
    assert "{#" not in html and "{% comment" not in html  # template comments stay comments
    card = viewer_client.get(f"/releases/cells/{entry.pk}/card/")
    assert card.status_code == 200
    text = card.content.decode()
    assert 'id="readiness-verdict"' in text and "Not ready" in text and "misses the 120 ms target" in text
    assert viewer_client.get("/releases/cells/999999/card/").status_code == 404


def test_the_matrix_row_links_each_version_to_its_release_page(viewer_client, release):
    html = viewer_client.get("/compat/").content.decode()
    assert 'href="/releases/yolov8n/1.5.0/"' in html


def test_the_list_gives_each_model_version_its_verdict(viewer_client, release):
    response = viewer_client.get("/releases/")
    verdicts = {(r.model_version.version): r.readiness.verdict for r in response.context["reports"]}
    assert verdicts == {"1.5.0": rules.NOT_READY, "1.4.0": rules.NOT_READY}  # 1.4.0: one thin pixel session each
    assert 'href="/releases/yolov8n/1.5.0/"' in response.content.decode()


def test_pages_need_a_login(client, release):
    response = client.get("/releases/yolov8n/1.5.0/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# Queries per page, whatever the number of devices, sessions, crashes, runs and versions (the scale below).
PINNED = {"release": 13, "list": 14, "export": 12, "card": 12}


@pytest.mark.parametrize("scale", [1, 3])
@pytest.mark.parametrize("page", PINNED)
def test_query_count_is_pinned_whatever_the_number_of_rows(client, viewer_user, page, scale, django_assert_num_queries):
    release = release_make(scale=scale)
    client.force_login(viewer_user)
    path = {
        "release": "/releases/yolov8n/1.5.0/", "list": "/releases/", "export": "/releases/yolov8n/1.5.0/export.csv",
        "card": f"/releases/cells/{release.pixel_gpu.pk}/card/",
    }[page]  # fmt: skip
    with django_assert_num_queries(PINNED[page]):
        assert client.get(path).status_code == 200


def test_the_cell_pages_field_evidence_links_to_the_fleet_view_of_exactly_its_sessions(viewer_client, release):
    from compat.models import CompatEvidence

    evidence = CompatEvidence.objects.get(entry=release.galaxy_gpu, source_ref="field:7d")
    html = viewer_client.get(f"/compat/cell/{release.galaxy_gpu.pk}/").content.decode()
    assert f'<a href="{evidence.link.replace("&", "&amp;")}">field:7d</a>' in html
    assert viewer_client.get(evidence.link).context["kpis"].sessions == evidence.sample_size


def test_the_release_page_links_to_the_matrix_of_its_version_by_runtime(viewer_client, release):
    html = viewer_client.get("/releases/yolov8n/1.5.0/").content.decode()
    link = re.search(r'<a href="(/compat/\?model_version=[^"]+)">Matrix of this version', html).group(1)
    response = viewer_client.get(link.replace("&amp;", "&"))
    assert response.status_code == 200 and response.context["pivot_version"] == release.c.v2
