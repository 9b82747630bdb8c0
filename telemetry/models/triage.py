"""Triage models: notes, aliases of merged groups and an audit trail on crash groups."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class CrashGroupNote(models.Model):
    """A support engineer's free-text note on a crash group."""

    crash_group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="triage_notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Note on group {self.crash_group_id} by {self.author_id}"


class CrashGroupAlias(models.Model):
    """The fingerprint of a group merged away: its new crashes keep landing in the group it was merged into."""

    fingerprint = models.CharField(max_length=64, unique=True)
    group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="aliases")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.fingerprint[:12]} → group {self.group_id}"


class AuditAction(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Acknowledged"
    ASSIGN = "assign", "Assigned"
    RESOLVE = "resolve", "Resolved"
    IGNORE = "ignore", "Ignored"
    REOPEN = "reopen", "Reopened"
    STATUS = "status", "Status changed"
    NOTE = "note", "Note added"
    MERGE = "merge", "Merged"
    MERGED_INTO = "merged_into", "Merged into another group"
    UNMERGE = "unmerge", "Merge undone"


class CrashGroupAuditEvent(models.Model):
    """One triage action on a crash group: who did what, from which value to which; never edited."""

    crash_group = models.ForeignKey("telemetry.CrashGroup", on_delete=models.CASCADE, related_name="audit_events")
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, help_text="Kept when the user is deleted")
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} group {self.crash_group_id}"
