"""collector_paused: no cyclic collection inside the ingest hot path, and the collector left as it was found."""

import gc
import sys
from datetime import UTC, datetime

import msgspec
import pytest

from core.collector import collector_paused
from telemetry.ingest.service import session_batch_ingest
from tests.telemetry.fleet_factories import catalog_make
from tests.telemetry.ingest_factories import batch, session


@pytest.fixture
def collections_counted():
    """Counts collections that start while the test runs, with a threshold that collects at every allocation."""
    started = []

    def callback(phase, info):
        if phase == "start":
            started.append(info["generation"])

    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.enable()
    gc.set_threshold(1, 1, 1)
    gc.callbacks.append(callback)
    try:
        yield started
    finally:
        gc.callbacks.remove(callback)
        gc.set_threshold(*threshold)
        if not enabled:
            gc.disable()


def test_no_collection_runs_inside_and_the_collector_runs_again_after(collections_counted):
    with collector_paused():
        before = len(collections_counted)
        garbage = [[index] for index in range(1000)]
        inside = len(collections_counted) - before
    assert inside == 0 and len(garbage) == 1000
    assert gc.isenabled()
    before = len(collections_counted)
    [[index] for index in range(10)]
    assert len(collections_counted) > before  # the threshold of 1 collects again at once


def test_the_collector_is_enabled_again_after_an_exception():
    with pytest.raises(ZeroDivisionError), collector_paused():
        1 / 0  # noqa: B018
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled_also_when_nested():
    gc.disable()
    try:
        with collector_paused():
            with collector_paused():
                pass
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.django_db
def test_an_ingest_batch_runs_without_a_collection(collections_counted, ingest_key):
    catalog_make()
    body = msgspec.json.encode(batch([session(samples=[12.5] * 50) for _ in range(50)]))
    inside = []
    service_code = getattr(session_batch_ingest, "__wrapped__", session_batch_ingest).__code__

    def callback(phase, info):
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not service_code:
            frame = frame.f_back
        inside.append(frame is not None)

    gc.callbacks.append(callback)
    try:
        result = session_batch_ingest(
            api_key=ingest_key[0], body=body, content_encoding=None, received_at=datetime.now(UTC)
        )
    finally:
        gc.callbacks.remove(callback)

    assert result.accepted == 50
    assert False in inside and True not in inside  # collections ran around the service, none inside it
