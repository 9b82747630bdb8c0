"""Devices cannot fill the catalog: a fully rejected batch registers nothing, and each API key registers at most
INGEST_NEW_VERSIONS_PER_DAY new model/runtime versions a day (beyond it the events are rejected, saying why)."""

import pytest

from compat.models import ModelVersion, RuntimeVersion
from telemetry.models import InferenceSession
from tests.telemetry.ingest_factories import batch, post, session


def _versions() -> tuple[int, int]:
    return ModelVersion.objects.count(), RuntimeVersion.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"delegate": "no-such-delegate"},
        {"runtime": "no-such-runtime"},
        {"model": "no-such-model"},
    ],
)
def test_a_fully_rejected_batch_registers_no_version(client, raw_key, overrides):
    before = _versions()
    events = [session(model_version=f"9.{i}.0", runtime_version=f"8.{i}.0", **overrides) for i in range(5)]
    response = post(client, raw_key, batch(events))
    assert response.status_code == 202
    assert len(response.json()["rejected"]) == 5
    assert _versions() == before


@pytest.mark.django_db
def test_an_unknown_device_model_registers_no_version(client, raw_key):
    before = _versions()
    response = post(client, raw_key, batch([session(model_version="9.9.9")], device_model="no-such-phone"))
    assert response.json()["rejected"][0]["errors"] == {"device.model": ["unknown device model 'no-such-phone'"]}
    assert _versions() == before


@pytest.mark.django_db
def test_new_versions_beyond_the_daily_quota_are_rejected_with_a_clear_error(client, raw_key, settings):
    settings.INGEST_NEW_VERSIONS_PER_DAY = 3
    before_models, before_runtimes = _versions()
    events = [session(model_version=f"7.{i}.0") for i in range(5)]
    body = post(client, raw_key, batch(events)).json()
    assert body["accepted"] == 3
    assert [list(item["errors"]) for item in body["rejected"]] == [["model_version"], ["model_version"]]
    assert "INGEST_NEW_VERSIONS_PER_DAY" in body["rejected"][0]["errors"]["model_version"][0]
    assert _versions() == (before_models + 3, before_runtimes)
    # Known versions keep flowing; a new one is still refused today.
    body = post(client, raw_key, batch([session(model_version="7.0.0"), session(model_version="7.9.0")])).json()
    assert (body["accepted"], [item["index"] for item in body["rejected"]]) == (1, [1])
    assert InferenceSession.objects.count() == 4
