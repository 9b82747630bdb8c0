"""Dependencies that fail soft: Redis or the broker unreachable never turns a stored batch into a 500, database
errors in a rollup are retried, and an hour that keeps receiving events is re-queued by ingest, not only by beat."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from edgeportal.celery import app
from telemetry import tasks
from telemetry.api.throttling import IngestRateThrottle
from telemetry.ingest.dirty_hours import rollup_hours_mark_dirty
from telemetry.kpi.buckets import hour_floor
from telemetry.models import HourlyRollup, InferenceSession, RollupDirtyHour
from tests.telemetry.ingest_factories import batch, post, session

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_unreachable(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def broker_unreachable():
    """Publishing goes to a closed port (the test's tasks otherwise run eagerly, in process)."""
    before = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = CLOSED_PORT_REDIS, False
    app._pool = app.amqp._producer_pool = None  # connections are pooled: build new ones on the closed port
    yield
    app.conf.broker_url, app.conf.task_always_eager = before
    app._pool = app.amqp._producer_pool = None


@pytest.mark.django_db
def test_redis_unreachable_degrades_the_rate_limit_to_this_process_not_a_500(
    client, raw_key, redis_unreachable, monkeypatch
):
    monkeypatch.setattr(IngestRateThrottle, "THROTTLE_RATES", {"ingest": "3/min"})
    IngestRateThrottle._local_counts.clear()
    statuses = [post(client, raw_key, batch([session()])).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    assert InferenceSession.objects.count() == 3


@pytest.mark.django_db
def test_broker_unreachable_still_answers_202_for_a_committed_batch_and_keeps_the_mark(
    client, raw_key, broker_unreachable, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, raw_key, batch([session()]))
    assert (response.status_code, response.json()["accepted"]) == (202, 1)
    assert callbacks, "no rollup was queued"
    assert time.monotonic() - started < 5  # ~19 s before: the publish retried a dead broker
    assert InferenceSession.objects.count() == 1
    assert RollupDirtyHour.objects.count() == 1  # for the next batch's re-queue or the sweep


@pytest.mark.django_db
def test_an_hour_still_dirty_after_the_requeue_delay_is_returned_to_queue_again(settings):
    settings.ROLLUP_REQUEUE_DELAY_S = 10
    hour = hour_floor(timezone.now())
    assert rollup_hours_mark_dirty(hours=[hour]) == {hour}  # clean → queued
    assert rollup_hours_mark_dirty(hours=[hour]) == set()  # queued just now: the task in flight will see it
    RollupDirtyHour.objects.update(queued_at=timezone.now() - timedelta(seconds=11))
    assert rollup_hours_mark_dirty(hours=[hour]) == {hour}  # its message may be lost: queue again
    assert rollup_hours_mark_dirty(hours=[hour]) == set()


@pytest.mark.django_db
def test_an_hour_whose_rollup_message_was_lost_is_rolled_up_by_the_next_batch_without_beat(
    client, raw_key, settings, django_capture_on_commit_callbacks, broker_unreachable
):
    at = timezone.now() - timedelta(minutes=5)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, raw_key, batch([session(at=at)]))  # the rollup message is lost
    assert not HourlyRollup.objects.exists()
    app.conf.task_always_eager = True  # the broker is back
    RollupDirtyHour.objects.update(queued_at=timezone.now() - timedelta(seconds=settings.ROLLUP_REQUEUE_DELAY_S + 1))
    with django_capture_on_commit_callbacks(execute=True):
        post(client, raw_key, batch([session(at=at)]))
    assert sum(HourlyRollup.objects.values_list("sessions", flat=True)) == 2
    assert not RollupDirtyHour.objects.exists()


@pytest.mark.django_db
def test_a_rollup_failing_on_a_database_error_is_retried(monkeypatch):
    calls = []
    compute = tasks.rollup_hours_compute

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return compute(**kwargs)

    monkeypatch.setattr(tasks, "rollup_hours_compute", flaky)
    hour = hour_floor(timezone.now()).isoformat()
    app.conf.task_eager_propagates = False  # let apply() run the retry, as a worker would
    try:
        result = tasks.rollup_hours_task.apply(kwargs={"hours": [hour]})
    finally:
        app.conf.task_eager_propagates = True
    assert result.successful(), result.traceback
    assert len(calls) == 2
    assert tasks.rollup_hours_task.autoretry_for == (OperationalError, tasks.InterfaceError)
    assert tasks.rollup_hours_task.retry_backoff
