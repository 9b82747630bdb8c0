from datetime import timedelta

import pytest
from django.utils import timezone

from compat.models import CompatEntry
from telemetry.kpi.buckets import hour_floor
from telemetry.rollups.compute import rollup_range_compute

from .fleet_factories import catalog_make, crash_group_make, device_make
from .rollup_factories import session_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def c():
    return catalog_make()


def test_lookup_by_uid_prefix_lists_matches(client, viewer_user, c):
    device_make(c, uid="pixel8-000042")
    device_make(c, uid="pixel8-000043")
    device_make(c, uid="galaxy-000001")
    client.force_login(viewer_user)
    response = client.get("/fleet/devices/?q=PIXEL8-0000")
    assert [d.uid for d in response.context["devices"]] == ["pixel8-000042", "pixel8-000043"]


def test_a_unique_match_goes_straight_to_the_device_page(client, viewer_user, c):
    device_make(c, uid="pixel8-000042")
    client.force_login(viewer_user)
    response = client.get("/fleet/devices/?q=pixel8-00004")
    assert response.status_code == 302 and response["Location"] == "/fleet/devices/pixel8-000042/"


def test_device_page_shows_timeline_kpis_vs_cohort_and_compat_links(client, viewer_user, c):
    device = device_make(c, uid="pixel8-000042")
    other = device_make(c, uid="pixel8-000099")
    now = hour_floor(timezone.now())
    for hour in range(1, 4):
        session_make(c, device=device, at=now - timedelta(hours=hour), samples=[40.0, 42.0], rss=150.0)
        session_make(c, device=other, at=now - timedelta(hours=hour), samples=[10.0] * 50, rss=150.0)
    group = crash_group_make(c, devices=[device], at=now - timedelta(hours=2))
    rollup_range_compute(start=now - timedelta(hours=5), end=now + timedelta(hours=1))
    cell, _ = CompatEntry.objects.get_or_create(  # the rollup may already have pushed field evidence into it
        model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel
    )
    client.force_login(viewer_user)
    response = client.get("/fleet/devices/pixel8-000042/?range=24h")
    assert response.status_code == 200
    kinds = [item.kind for item in response.context["timeline"]]
    assert kinds.count("session") == 3 and kinds.count("crash") == 1
    assert f"/crashes/{group.pk}/".encode() in response.content
    p95 = next(row for row in response.context["kpi_rows"] if row["label"].startswith("p95"))
    assert float(p95["device"]) > float(p95["cohort"])  # the device is slower than its cohort
    assert [entry.pk for entry, _ in response.context["cells"]] == [cell.pk]
    assert response.context["cells"][0][1].startswith("/compat/")


def test_unknown_device_is_404(client, viewer_user, c):
    client.force_login(viewer_user)
    assert client.get("/fleet/devices/nope/").status_code == 404


def test_timeline_is_paged_newest_first_across_sessions_and_crashes(client, viewer_user, c, django_assert_num_queries):
    device = device_make(c, uid="pixel8-000042")
    now = hour_floor(timezone.now())
    for minute in range(70):
        session_make(c, device=device, at=now - timedelta(minutes=10 + 2 * minute), samples=[10.0])
    crash_group_make(c, devices=[device], crashes_per_device=5, at=now - timedelta(minutes=61), rollup=False)
    client.force_login(viewer_user)

    first = client.get("/fleet/devices/pixel8-000042/?range=24h")
    second = client.get("/fleet/devices/pixel8-000042/?range=24h&page=2")

    one, two = first.context["timeline"], second.context["timeline"]
    assert len(one) == 50 and len(two) == 25 and first.context["timeline_page"].num_pages == 2
    merged = [item.at for item in one + two]
    assert merged == sorted(merged, reverse=True)
    assert sum(item.kind == "crash" for item in one + two) == 5
    assert "range=24h&amp;page=2" in first.content.decode()
    assert client.get("/fleet/devices/pixel8-000042/?range=24h&page=99").context["timeline_page"].number == 2
    for page in (1, 2):  # a deeper page costs no more queries
        # session, user, role, device, 2 counts + 2 reads, cells, KPIs (the device's 2: sums, then histograms and RSS)
        with django_assert_num_queries(16):
            client.get(f"/fleet/devices/pixel8-000042/?range=24h&page={page}")


def test_the_timeline_exports_every_event_of_the_range_as_csv_and_json(client, viewer_user, c):
    import csv
    import io
    import json

    from telemetry.models import CrashReport, InferenceSession

    device = device_make(c, uid="pixel8-000042")
    now = hour_floor(timezone.now())
    for minute in range(70):
        session_make(c, device=device, at=now - timedelta(minutes=10 + 2 * minute), samples=[10.0])
    session_make(c, device=device, at=now - timedelta(days=3), samples=[10.0])  # outside 24 h
    crash_group_make(c, devices=[device], crashes_per_device=5, at=now - timedelta(minutes=61), rollup=False)
    client.force_login(viewer_user)
    since = timezone.now() - timedelta(hours=24)
    expected = (InferenceSession.objects.filter(device=device, started_at__gte=since).count()
                + CrashReport.objects.filter(device=device, occurred_at__gte=since).count())  # fmt: skip
    page = client.get("/fleet/devices/pixel8-000042/?range=24h").content.decode()
    assert "/fleet/devices/pixel8-000042/timeline.csv?range=24h" in page
    text = client.get("/fleet/devices/pixel8-000042/timeline.csv?range=24h").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == expected == 75 and sum(r["kind"] == "crash" for r in rows) == 5
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    body = json.loads(client.get("/fleet/devices/pixel8-000042/timeline.json?range=24h").content)
    assert body["device"] == "pixel8-000042" and len(body["results"]) == expected
    assert client.get("/fleet/devices/nobody/timeline.csv").status_code == 404
    assert client.get("/fleet/devices/pixel8-000042/timeline.xml").status_code == 404


def test_device_kpis_are_summed_by_the_database_with_the_per_session_figures(c, django_assert_num_queries):
    """The device's KPIs equal a brute force over its sessions' own samples (RSS repeated, zero and missing; the
    accelerated fraction missing on some), in two queries whatever the number of sessions."""
    import numpy as np

    from edgeportal_client.histogram import LatencyHistogram
    from telemetry.kpi.kpis import Kpis
    from telemetry.support.devices import device_totals

    device = device_make(c, uid="pixel8-000077")
    other = device_make(c, uid="pixel8-000078")
    now = hour_floor(timezone.now())
    start, end = now - timedelta(days=2), now
    rng = np.random.default_rng(5)
    made = []
    for i in range(40):
        samples = [float(x) for x in rng.uniform(5.0, 80.0, size=int(rng.integers(1, 6)))]
        rss = [150.0, 150.0, 0.0, None, 212.5][i % 5]
        accelerated = None if i % 7 == 0 else float(rng.uniform(0.2, 1.0))
        at = start + timedelta(minutes=50 * i)
        made.append((samples, rss, accelerated, i % 9 == 0, i % 4))
        session_make(c, device=device, at=at, samples=samples, rss=rss, accelerated=accelerated, crashed=i % 9 == 0,
                     errors=i % 4)  # fmt: skip
    session_make(c, device=device, at=start - timedelta(minutes=1), samples=[900.0])  # before the range
    session_make(c, device=other, at=start + timedelta(hours=1), samples=[900.0], rss=900.0)  # another device
    with django_assert_num_queries(2):
        got = Kpis.from_totals(device_totals(device=device, start=start, end=end), start=start, end=end)
    latency = LatencyHistogram.from_samples([x for samples, *_ in made for x in samples])
    rss = LatencyHistogram.from_samples([r for _, r, *_ in made if r])
    inferences = sum(len(samples) for samples, *_ in made)
    weighted = [(a, len(s)) for s, _, a, *_ in made if a is not None]
    assert got.sessions == 40
    assert got.crash_free_sessions == 1 - sum(1 for *_, crashed, _ in made if crashed) / 40
    assert got.errors_per_1k == pytest.approx(1000 * sum(e for *_, e in made) / inferences)
    assert got.accelerator_utilization == pytest.approx(sum(a * n for a, n in weighted) / sum(n for _, n in weighted))
    assert got.p95_latency_ms == pytest.approx(latency.quantile(0.95))
    assert got.peak_rss_mb_p95 == pytest.approx(rss.quantile(0.95))
