"""Fleet-bound keys are enforced on ingest: a device takes its fleet from the first fleet-bound key, another fleet's
key cannot post as it (403, nothing of it changes), and a device with its own key is spoken for only by that key."""

import pytest

from core.services import api_key_create
from telemetry.models import Device, InferenceSession
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, post, session

UID = "pixel8-000042"


@pytest.fixture
def keys(db):
    catalog_make()
    return {
        "a": api_key_create(name="fleet a", scopes=["ingest"], fleet="fleet-a")[1],
        "b": api_key_create(name="fleet b", scopes=["ingest"], fleet="fleet-b")[1],
        "any": api_key_create(name="fleet-wide", scopes=["ingest"])[1],
    }


@pytest.mark.django_db
def test_a_device_takes_the_fleet_of_the_key_that_first_posts_for_it(client, keys):
    assert post(client, keys["a"], batch([session()], uid=UID)).status_code == 202
    assert Device.objects.get(uid=UID).fleet == "fleet-a"


@pytest.mark.django_db
def test_another_fleets_key_cannot_post_as_the_device_and_changes_nothing(client, keys):
    post(client, keys["a"], batch([session()], uid=UID, app_version="3.2.1"))
    response = post(client, keys["b"], batch([session(model_version="6.6.6")], uid=UID, app_version="6.6.6"))
    assert response.status_code == 403
    assert list(response.json()["detail"]) == ["device.uid"]
    device = Device.objects.get(uid=UID)
    assert (device.fleet, device.app_version) == ("fleet-a", "3.2.1")
    assert InferenceSession.objects.count() == 1
    assert post(client, keys["a"], batch([session()], uid=UID)).status_code == 202


@pytest.mark.django_db
def test_a_device_with_its_own_key_is_spoken_for_only_by_that_key(client, keys):
    _, device_key = api_key_create(name="own key", scopes=["ingest"], device_uid=UID)
    assert post(client, keys["any"], batch([session()], uid=UID)).status_code == 403
    assert not Device.objects.filter(uid=UID).exists()
    assert post(client, device_key, batch([session()], uid=UID)).status_code == 202
    assert post(client, keys["a"], batch([session()], uid=UID)).status_code == 403
    assert InferenceSession.objects.count() == 1
