"""A device's first/last seen are its earliest/latest stored event times, not the arrival of its batches."""

from datetime import timedelta

import pytest

from telemetry.models import Device
from tests.telemetry.ingest_factories import batch, crash, now, post, session

pytestmark = pytest.mark.django_db


def test_first_seen_is_the_earliest_event_of_a_buffered_batch(client, raw_key):
    start = now()
    post(client, raw_key, batch([session(at=start - timedelta(days=3)), crash(at=start - timedelta(days=2))]))

    device = Device.objects.get(uid="pixel8-000042")
    assert abs(device.first_seen_at - (start - timedelta(days=3))) < timedelta(seconds=1)
    assert abs(device.last_seen_at - (start - timedelta(days=2))) < timedelta(seconds=1)


def test_first_seen_keeps_the_minimum_and_last_seen_the_maximum_over_batches(client, raw_key):
    start = now()
    post(client, raw_key, batch([session(at=start - timedelta(days=2))]))
    post(client, raw_key, batch([session(at=start - timedelta(days=4)), session(at=start - timedelta(hours=1))]))
    post(client, raw_key, batch([session(at=start - timedelta(days=3))]))  # a late buffer: changes neither

    device = Device.objects.get(uid="pixel8-000042")
    assert abs(device.first_seen_at - (start - timedelta(days=4))) < timedelta(seconds=1)
    assert abs(device.last_seen_at - (start - timedelta(hours=1))) < timedelta(seconds=1)


def test_device_page_shows_first_and_last_seen(client, raw_key, viewer_user):
    start = now()
    post(client, raw_key, batch([session(at=start - timedelta(days=3)), session(at=start - timedelta(hours=2))]))
    client.force_login(viewer_user)

    response = client.get("/fleet/devices/pixel8-000042/?range=7d")

    device = Device.objects.get(uid="pixel8-000042")
    assert response.context["device"].first_seen_at == device.first_seen_at
    html = response.content.decode()
    assert "First seen" in html and "Last seen" in html
    assert (start - timedelta(days=3)).strftime("%Y-%m-%d") in html
