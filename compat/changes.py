"""The compat changes page's reads: status changes (derived and manual) of a period, and the same as export rows."""

from datetime import timedelta

from django.utils import timezone

from .models import CompatStatusChange


def changes_list(*, days: int, limit: int = 500) -> list[CompatStatusChange]:
    """Status changes (derived and manual) in the last `days` days, newest first."""
    since = timezone.now() - timedelta(days=days)
    return list(
        CompatStatusChange.objects.filter(changed_at__gte=since)
        .select_related(
            "entry__model_version__ml_model",
            "entry__runtime_version__runtime",
            "entry__delegate",
            "entry__device_model",
        )
        .order_by("-changed_at")[:limit]
    )


CHANGE_EXPORT_FIELDS = ("changed_at", "entry_id", "model_version", "runtime_version", "delegate", "device_model",
                        "from_status", "to_status", "kind", "actor", "reason")  # fmt: skip


def changes_export_rows(changes: list[CompatStatusChange]) -> list[dict]:
    """One dict per status change, in CHANGE_EXPORT_FIELDS (the changes page's columns, as data)."""
    return [
        {
            "changed_at": change.changed_at.isoformat(),
            "entry_id": change.entry_id,
            "model_version": str(change.entry.model_version),
            "runtime_version": str(change.entry.runtime_version),
            "delegate": change.entry.delegate.slug,
            "device_model": change.entry.device_model.slug,
            "from_status": change.from_status,
            "to_status": change.to_status,
            "kind": change.kind,
            "actor": change.actor,
            "reason": change.reason,
        }
        for change in changes
    ]
