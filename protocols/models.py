"""What the protocol adapters keep beside the ingest service's rows: Sentry extras and OTLP stream state."""

from django.db import models


class SentrySessionStatus(models.TextChoices):
    OK = "ok"
    EXITED = "exited"
    CRASHED = "crashed"
    ABNORMAL = "abnormal"
    ERRORED = "errored"


TERMINAL_STATUSES = (SentrySessionStatus.EXITED, SentrySessionStatus.CRASHED, SentrySessionStatus.ABNORMAL)


class ReleaseHealthSession(models.Model):
    """One Sentry app session (`session` item, by its sid) at its latest status: a resent update overwrites it."""

    sid = models.UUIDField(unique=True)
    device_uid = models.CharField(max_length=128, blank=True, help_text="Sentry's `did` (the user id)")
    release = models.CharField(max_length=200)
    environment = models.CharField(max_length=64, blank=True)
    started = models.DateTimeField()
    updated = models.DateTimeField(help_text="The update's own timestamp: a late, older update never wins")
    status = models.CharField(max_length=10, choices=SentrySessionStatus.choices)
    errors = models.PositiveIntegerField(default=0)
    duration_s = models.FloatField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["release", "started"], name="rh_session_release_idx")]

    def __str__(self) -> str:
        return f"{self.release} {self.sid} {self.status}"


class ReleaseHealthAggregate(models.Model):
    """One bucket of a `sessions` item (request-mode sessions started in one minute); its digest makes resends no-ops."""

    digest = models.CharField(max_length=64, unique=True)
    device_uid = models.CharField(max_length=128, blank=True)
    release = models.CharField(max_length=200)
    environment = models.CharField(max_length=64, blank=True)
    started = models.DateTimeField()
    exited = models.PositiveIntegerField(default=0)
    errored = models.PositiveIntegerField(default=0)
    abnormal = models.PositiveIntegerField(default=0)
    crashed = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["release", "started"], name="rh_aggregate_release_idx")]

    def __str__(self) -> str:
        return f"{self.release} {self.started:%Y-%m-%d %H:%M}"


class SentryEvent(models.Model):
    """What a Sentry event says beyond its crash report (same event_id): handled, level, breadcrumbs."""

    event_id = models.UUIDField(unique=True)
    handled = models.BooleanField(null=True)
    level = models.CharField(max_length=16, blank=True)
    platform = models.CharField(max_length=32, blank=True)
    environment = models.CharField(max_length=64, blank=True)
    release = models.CharField(max_length=200, blank=True)
    breadcrumbs = models.JSONField(default=list, blank=True, help_text="Scrubbed like crash messages")
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.event_id)


class SentryAttachment(models.Model):
    """An envelope attachment (a minidump, a log file) kept with the crash of the envelope's event."""

    event_id = models.UUIDField(db_index=True)
    filename = models.CharField(max_length=255)
    attachment_type = models.CharField(max_length=40, default="event.attachment")
    content_type = models.CharField(max_length=100, blank=True)
    size = models.PositiveIntegerField()
    data = models.BinaryField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_id", "filename"], name="sentry_attachment_unique_event_file")
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.event_id})"


class SentryClientReport(models.Model):
    """Events a Sentry client discarded before sending (`client_report` items), by reason and category."""

    digest = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=64)
    category = models.CharField(max_length=32)
    quantity = models.PositiveIntegerField()
    reported_at = models.DateTimeField()
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.quantity} {self.category} dropped: {self.reason}"


class OtlpStreamPoint(models.Model):
    """The last cumulative OTLP point of one stream (key × resource × metric × attributes), to difference the next."""

    stream = models.CharField(max_length=64, unique=True, help_text="sha256 of the stream's identity")
    start_time_unix_nano = models.BigIntegerField()
    time_unix_nano = models.BigIntegerField()
    state = models.JSONField(help_text="The point's cumulative value: a sum, or histogram counts")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.stream
