"""Retention of the adapters' rows: the same RAW_RETENTION_DAYS as raw telemetry, each table by its own time."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from protocols.models import (
    OtlpStreamPoint,
    ReleaseHealthAggregate,
    ReleaseHealthSession,
    SentryAttachment,
    SentryClientReport,
    SentryEvent,
)
from protocols.retention import protocol_retention_enforce

pytestmark = pytest.mark.django_db


def _rows(at, tag: str) -> None:
    ReleaseHealthSession.objects.create(sid=uuid.uuid4(), release=tag, started=at, updated=at, status="ok",
                                        received_at=timezone.now())  # fmt: skip
    ReleaseHealthAggregate.objects.create(digest=f"{tag}-agg", release=tag, started=at, exited=3,
                                          received_at=timezone.now())  # fmt: skip
    SentryEvent.objects.create(event_id=uuid.uuid4(), release=tag, received_at=at)
    SentryAttachment.objects.create(event_id=uuid.uuid4(), filename=f"{tag}.dmp", size=1, data=b"x", received_at=at)
    SentryClientReport.objects.create(digest=f"{tag}-cr", reason="queue_overflow", category="error", quantity=2,
                                      reported_at=at, received_at=at)  # fmt: skip
    point = OtlpStreamPoint.objects.create(stream=f"{tag}-stream", start_time_unix_nano=1, time_unix_nano=2, state={})
    OtlpStreamPoint.objects.filter(pk=point.pk).update(updated_at=at)  # auto_now: set the time behind its back


def test_rows_older_than_retention_go_and_the_rest_stay(settings):
    settings.RAW_RETENTION_DAYS = 30
    now = timezone.now()
    _rows(now - timedelta(days=31), "old")
    _rows(now - timedelta(days=29), "new")
    deleted = protocol_retention_enforce(now=now, chunk_size=1)  # chunks of one: the loop, not one statement
    assert deleted == {key: 1 for key in deleted} and len(deleted) == 6
    assert set(ReleaseHealthSession.objects.values_list("release", flat=True)) == {"new"}
    assert set(ReleaseHealthAggregate.objects.values_list("release", flat=True)) == {"new"}
    assert set(SentryEvent.objects.values_list("release", flat=True)) == {"new"}
    assert set(SentryAttachment.objects.values_list("filename", flat=True)) == {"new.dmp"}
    assert set(SentryClientReport.objects.values_list("digest", flat=True)) == {"new-cr"}
    assert set(OtlpStreamPoint.objects.values_list("stream", flat=True)) == {"new-stream"}


def test_the_task_is_on_the_beat_schedule():
    from edgeportal.celery import app
    from protocols.tasks import protocol_retention_task

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert (
        protocol_retention_task.name == "protocols.tasks.protocol_retention_task"
        and protocol_retention_task.name in tasks
    )
