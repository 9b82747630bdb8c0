"""The header search page: devices (the shared matcher), crash groups, models and lab runs; bounded, pinned."""

import pytest

from benchmarks.models import BenchmarkRun, BenchmarkSeries
from tests.telemetry.fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c(db):
    return catalog_make()


def _run(c, *, build: str, commit: str = "") -> BenchmarkRun:
    series, _ = BenchmarkSeries.objects.get_or_create(
        key="k1", defaults={"ml_model": c.yolo, "runtime": c.tflite, "delegate": c.gpu, "device_model": c.pixel}
    )
    return BenchmarkRun.objects.create(
        series=series, model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel,
        build=build, commit=commit,
    )  # fmt: skip


def test_header_has_a_search_form_to_the_search_page(client, viewer_user):
    client.force_login(viewer_user)
    html = client.get("/fleet/devices/").content.decode()
    assert 'action="/search/"' in html and 'name="q"' in html and 'role="search"' in html


def test_search_finds_each_kind(client, viewer_user, c, django_assert_num_queries):
    device = device_make(c, uid="pixel8-008f3a1c")
    device_make(c, uid="galaxy-000001")
    group = crash_group_make(c, devices=[device], title="SIGSEGV in 8f3a delegate")
    run = _run(c, build="nightly-8f3a")
    client.force_login(viewer_user)

    with django_assert_num_queries(7):  # session, user, role, then one query per kind
        response = client.get("/search/?q=8F3A")

    hits = response.context["hits"]
    assert [d.uid for d in hits["devices"].rows] == ["pixel8-008f3a1c"]
    assert [g.pk for g in hits["crash_groups"].rows] == [group.pk]
    assert [r.pk for r in hits["runs"].rows] == [run.pk]
    html = response.content.decode()
    assert "/fleet/devices/pixel8-008f3a1c/" in html and f"/crashes/{group.pk}/" in html
    assert f"/benchmarks/runs/{run.pk}/" in html
    assert [m.slug for m in client.get("/search/?q=yolo").context["hits"]["models"].rows] == ["yolov8n"]
    fingerprint = client.get(f"/search/?q={group.fingerprint[:12]}").context["hits"]["crash_groups"].rows
    assert [g.pk for g in fingerprint] == [group.pk]


def test_each_kind_is_bounded_with_a_more_link(client, viewer_user, c, django_assert_num_queries):
    for i in range(12):
        device_make(c, uid=f"pixel8-{i:04d}")
        _run(c, build=f"rc-{i}")
    client.force_login(viewer_user)
    with django_assert_num_queries(7):
        response = client.get("/search/?q=pixel8")
    assert len(response.context["hits"]["devices"].rows) == 10 and response.context["hits"]["devices"].more
    assert "/fleet/devices/?q=pixel8&amp;go=list" in response.content.decode()
    runs = client.get("/search/?q=rc-").context["hits"]["runs"]
    assert len(runs.rows) == 10 and runs.more


def test_blank_query_searches_nothing(client, viewer_user, c):
    client.force_login(viewer_user)
    response = client.get("/search/?q=")
    assert response.status_code == 200 and response.context["hits"] == {}


def test_search_needs_a_login(client, db):
    response = client.get("/search/?q=pixel")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
