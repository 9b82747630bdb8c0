"""The durable event_id dedupe of the day-partitioned raw tables, and the checkpoint of their online copy.

On PostgreSQL the raw session and crash tables are partitioned by day of their corrected time (docs/partitioning.md).
A unique index there must include that time, and a resend can carry a different corrected time (a clamp to the
receive time, a shift by a different sent_at): so event_id uniqueness lives in these narrow key tables instead.
"""

from dataclasses import dataclass

from django.db import models

from .raw import CrashReport, InferenceSession


class SessionEventKey(models.Model):
    """One stored session's event_id and the UTC day of the partition its row sits in: the durable dedupe."""

    event_id = models.UUIDField(primary_key=True)
    day = models.DateField(help_text="UTC day of the row's started_at; keys are pruned with their partition")

    def __str__(self) -> str:
        return f"{self.event_id} on {self.day}"


class CrashEventKey(models.Model):
    """One stored crash's event_id and the UTC day of the partition its row sits in: the durable dedupe."""

    event_id = models.UUIDField(primary_key=True)
    day = models.DateField(help_text="UTC day of the row's occurred_at; keys are pruned with their partition")

    def __str__(self) -> str:
        return f"{self.event_id} on {self.day}"


class RawTableCopyStatus(models.TextChoices):
    COPYING = "copying", "Copying rows into the partitioned table"
    SWAPPED = "swapped", "Partitioned table swapped in"
    FAILED = "failed", "Failed (resumable)"


class RawTableCopy(models.Model):
    """The resumable copy of one plain raw table into its partitioned twin (manage.py partition_raw_tables)."""

    table = models.CharField(max_length=63, unique=True)
    copied_up_to_id = models.BigIntegerField(default=0, help_text="Rows with id ≤ this are in the partitioned table")
    rows_copied = models.BigIntegerField(default=0)
    status = models.CharField(max_length=8, choices=RawTableCopyStatus.choices, default=RawTableCopyStatus.COPYING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.table}: {self.status} up to id {self.copied_up_to_id}"


@dataclass(frozen=True, slots=True)
class RawTable:
    """A day-partitioned raw table: its model, the key table that dedupes its event_ids, its partition column."""

    model: type[models.Model]
    key_model: type[models.Model]
    time_column: str


# Crashes first: they point at sessions, so retention clears those links before a session partition goes.
RAW_TABLES = (
    RawTable(CrashReport, CrashEventKey, "occurred_at"),
    RawTable(InferenceSession, SessionEventKey, "started_at"),
)


def raw_table_of(model: type[models.Model]) -> RawTable:
    return next(raw for raw in RAW_TABLES if raw.model is model)
