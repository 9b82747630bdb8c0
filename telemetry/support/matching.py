"""The one definition of "this query matches that device / crash group", shared by pages, the API and search."""

from django.db.models import Q, QuerySet

from ..models import CrashGroup, Device


def device_match_q(q: str) -> Q:
    """Any part of the uid or the firmware, case-insensitive: "8F3A" finds pixel8-008f3a1c."""
    q = q.strip()
    return Q(uid__icontains=q) | Q(firmware__icontains=q)


def devices_matching(q: str, queryset: QuerySet[Device] | None = None) -> QuerySet[Device]:
    """The devices `q` matches (all of `queryset` for a blank query)."""
    queryset = Device.objects.all() if queryset is None else queryset
    return queryset.filter(device_match_q(q)) if q.strip() else queryset


def crash_group_match_q(q: str) -> Q:
    """Any part of the title or culprit (case-insensitive), or the start of the fingerprint."""
    q = q.strip()
    return Q(title__icontains=q) | Q(culprit__icontains=q) | Q(fingerprint__startswith=q.lower())


def crash_groups_matching(q: str, queryset: QuerySet[CrashGroup] | None = None) -> QuerySet[CrashGroup]:
    queryset = CrashGroup.objects.all() if queryset is None else queryset
    return queryset.filter(crash_group_match_q(q)) if q.strip() else queryset
