"""FilterSets for listed telemetry models, shared by the API and the pages; parameter names as in API.md.

Cohort parameters (model, model_version, runtime, runtime_version, delegate, ...) mean "has activity in that cohort":
devices through DeviceActivityDay (small, indexed by day), crash groups through their crash reports. An unknown
slug or version is a form error naming the parameter (the API answers 400).
"""

import django_filters as filters
from django import forms
from django.db.models import Exists, OuterRef

from compat.models import DeviceModel
from core.filters import IdFilter, IntegerFilter

from ..kpi.scope import FILTER_LOOKUPS, KNOWN_VALUES, moment_parse
from ..models import (
    CrashGroup,
    CrashGroupStatus,
    CrashKind,
    CrashReport,
    DailyCrashGroupRollup,
    Device,
    DeviceActivityDay,
)
from .matching import crash_groups_matching, devices_matching


class MomentField(forms.CharField):
    """A query-string timestamp: ISO 8601 datetime or date."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        moment = moment_parse(value)
        if moment is None:
            raise forms.ValidationError(f"Not an ISO 8601 date or datetime: {value!r}.")
        return moment


class MomentFilter(filters.Filter):
    field_class = MomentField


class KnownValueField(forms.CharField):
    """A catalog slug or version that must exist (unknown values are an error, not an empty list)."""

    def __init__(self, *args, param: str, **kwargs):
        self.param = param
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and not KNOWN_VALUES[self.param](value):
            raise forms.ValidationError(f"Unknown {self.param} {value!r}.")
        return value


class KnownValueFilter(filters.CharFilter):
    field_class = KnownValueField


def _cohort_filter(param: str) -> filters.Filter:
    """A filter on a cohort column; validated against the catalog when it names a catalog row."""
    if param in KNOWN_VALUES:
        return KnownValueFilter(param=param, method="filter_cohort")
    if param == "tier":
        return IntegerFilter(method="filter_cohort", min_value=0, max_value=99)
    if param.endswith("_id"):
        return IdFilter(method="filter_cohort")
    return filters.CharFilter(method="filter_cohort")


class DeviceFilterSet(filters.FilterSet):
    """Devices by model/vendor/tier/OS/app version, seen-in range, cohort activity and `q` (uid, firmware)."""

    device_model = KnownValueFilter(param="device_model", field_name="device_model__slug")
    device_model_id = filters.ModelChoiceFilter(queryset=DeviceModel.objects.all(), field_name="device_model")
    vendor = KnownValueFilter(param="vendor", field_name="device_model__vendor", lookup_expr="iexact")
    tier = IntegerFilter(field_name="device_model__tier", min_value=0, max_value=99)
    os_version = filters.CharFilter()
    app_version = filters.CharFilter()
    model = _cohort_filter("model")
    model_version = _cohort_filter("model_version")
    model_version_id = _cohort_filter("model_version_id")
    runtime = _cohort_filter("runtime")
    runtime_version = _cohort_filter("runtime_version")
    runtime_version_id = _cohort_filter("runtime_version_id")
    delegate = _cohort_filter("delegate")
    delegate_id = _cohort_filter("delegate_id")
    q = filters.CharFilter(method="filter_q", label="Search uid or firmware")

    class Meta:
        model = Device
        fields: list[str] = []

    def filter_cohort(self, queryset, name, value):
        activity = DeviceActivityDay.objects.filter(device=OuterRef("pk"), **{FILTER_LOOKUPS[name]: value})
        return queryset.filter(Exists(activity))

    def filter_q(self, queryset, name, value):
        return devices_matching(value, queryset)


class CrashGroupFilterSet(filters.FilterSet):
    """Crash groups by status/kind, seen-in range, the cohorts of their crashes and `q` (title, culprit, fingerprint)."""

    status = filters.ChoiceFilter(choices=CrashGroupStatus.choices)
    kind = filters.ChoiceFilter(choices=CrashKind.choices)
    device_model = _cohort_filter("device_model")
    device_model_id = _cohort_filter("device_model_id")
    vendor = _cohort_filter("vendor")
    tier = _cohort_filter("tier")
    os_version = _cohort_filter("os_version")
    app_version = _cohort_filter("app_version")
    model = _cohort_filter("model")
    model_version = _cohort_filter("model_version")
    model_version_id = _cohort_filter("model_version_id")
    runtime = _cohort_filter("runtime")
    runtime_version = _cohort_filter("runtime_version")
    runtime_version_id = _cohort_filter("runtime_version_id")
    delegate = _cohort_filter("delegate")
    delegate_id = _cohort_filter("delegate_id")
    q = filters.CharFilter(method="filter_q", label="Search title, culprit or fingerprint")

    class Meta:
        model = CrashGroup
        fields: list[str] = []

    def filter_cohort(self, queryset, name, value):
        # The daily crash-group rollup: every day the group crashed, raw reports past retention included, in far
        # fewer rows than the reports; it has no app version, which only raw reports hold.
        source = CrashReport if name == "app_version" else DailyCrashGroupRollup
        crashes = source.objects.filter(group=OuterRef("pk"), **{FILTER_LOOKUPS[name]: value})
        return queryset.filter(Exists(crashes))

    def filter_q(self, queryset, name, value):
        return crash_groups_matching(value, queryset)


# `from` is a Python keyword, so the seen-in range filters are added to the classes after their definition.
for _filterset in (DeviceFilterSet, CrashGroupFilterSet):
    _filterset.base_filters["from"] = MomentFilter(field_name="last_seen_at", lookup_expr="gte", label="Seen from")
    _filterset.base_filters["to"] = MomentFilter(field_name="first_seen_at", lookup_expr="lt", label="Seen before")
