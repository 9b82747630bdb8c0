"""One FilterSet per listed model, shared by the HTML pages and the API.

Foreign keys filter by id (`device_model_id`) and by their API key (`device_model=google-pixel-8`); versions and
delegates have natural keys: `runtime_version=tflite@2.16.1`, `model_version=yolov8n@8.1-int8`, `delegate=tflite/gpu`.
Unknown keys are form errors (400 in the API, a message on the page), never an empty result that looks like "no data".
"""

import django_filters as filters
from django import forms
from django.db.models import Q
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from core.filters import IdFilter

from .models import (
    CompatEntry,
    CompatStatus,
    Delegate,
    DelegateKind,
    DeviceModel,
    MLModel,
    ModelFormat,
    ModelTask,
    ModelVersion,
    OsFamily,
    Precision,
    Runtime,
    RuntimeVersion,
    Tier,
)


def _vendor_choices():
    """Vendors by slug like every other filter (`?vendor=apple`), labelled by name."""
    names = DeviceModel.objects.order_by("vendor").values_list("vendor", flat=True).distinct()
    return list(dict((slugify(name), name) for name in names).items())


class NaturalKeyField(forms.CharField):
    """Comma-separated natural keys ("tflite@2.16.1") resolved to rows in one query; unknown keys are errors."""

    def __init__(self, *, model, separator: str, lookups: tuple[str, str], **kwargs):
        self.model, self.separator, self.lookups = model, separator, lookups
        kwargs.setdefault("help_text", f"e.g. a{separator}b; comma-separated for several")
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        keys = [key.strip() for key in value.split(",") if key.strip()]
        pairs = []
        for key in keys:
            left, sep, right = key.partition(self.separator)
            if not sep or not left or not right:
                # User text goes into params, never the message: django-filter %-formats messages with params.
                raise forms.ValidationError(
                    "%(key)r is not of the form a%(separator)sb.", params={"key": key, "separator": self.separator}
                )
            pairs.append((left, right))
        query = Q()
        for left, right in pairs:
            query |= Q(**{self.lookups[0]: left, self.lookups[1]: right})
        rows = list(self.model.objects.filter(query))
        found = {(str(_lookup(row, self.lookups[0])), str(_lookup(row, self.lookups[1]))) for row in rows}
        unknown = [f"{a}{self.separator}{b}" for a, b in pairs if (a, b) not in found]
        if unknown:
            raise forms.ValidationError(
                "Unknown %(kind)s: %(keys)s.",
                params={"kind": self.model._meta.verbose_name, "keys": ", ".join(unknown)},
            )
        return rows


def _lookup(row, path: str):
    for part in path.split("__"):
        row = getattr(row, part)
    return row


@extend_schema_field(OpenApiTypes.STR)
class NaturalKeyFilter(filters.Filter):
    field_class = NaturalKeyField

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


@extend_schema_field(OpenApiTypes.STR)
class VendorFilter(filters.MultipleChoiceFilter):
    """Repeatable vendor filter by slug (?vendor=apple; a name reads as its slug); cleans to the vendors' names."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        clean = self.field_class.clean

        def clean_to_names(field, value):
            slugs = clean(field, [slugify(v) for v in value] if isinstance(value, list | tuple) else value)
            if not slugs:
                return []  # no query for the vendor list when the filter is not used
            names = dict(field.choices)
            return [names[slug] for slug in slugs]

        self.field_class = type("VendorSlugField", (self.field_class,), {"clean": clean_to_names})


@extend_schema_field(OpenApiTypes.STR)
class SlugMultipleChoiceFilter(filters.ModelMultipleChoiceFilter):
    """Repeatable slug filter (?runtime=tflite&runtime=onnxruntime); documented as a string in the schema."""


def _slugs(field_name: str, model, label: str):
    # The predicate compares the related row's slug (django-filter puts getattr(row, to_field_name) in the lookup).
    return SlugMultipleChoiceFilter(
        field_name=f"{field_name}__slug", to_field_name="slug", queryset=model.objects.all(), label=label
    )


class CompatEntryFilterSet(filters.FilterSet):
    """Filters of the matrix page, the export and /api/v1/compat/entries/."""

    q = filters.CharFilter(method="filter_q", label="Search")
    model = _slugs("model_version__ml_model", MLModel, "Model")
    model_id = IdFilter(field_name="model_version__ml_model_id", label="Model id")
    model_version = NaturalKeyFilter(
        field_name="model_version",
        model=ModelVersion,
        separator="@",
        lookups=("ml_model__slug", "version"),
        label="Model version",
    )
    model_version_id = IdFilter(label="Model version id")
    task = filters.MultipleChoiceFilter(
        field_name="model_version__ml_model__task", choices=ModelTask.choices, label="Task"
    )
    precision = filters.MultipleChoiceFilter(
        field_name="model_version__precision", choices=Precision.choices, label="Precision"
    )
    format = filters.MultipleChoiceFilter(
        field_name="model_version__format", choices=ModelFormat.choices, label="Format"
    )
    runtime = _slugs("runtime_version__runtime", Runtime, "Runtime")
    runtime_id = IdFilter(field_name="runtime_version__runtime_id", label="Runtime id")
    runtime_version = NaturalKeyFilter(
        field_name="runtime_version",
        model=RuntimeVersion,
        separator="@",
        lookups=("runtime__slug", "version"),
        label="Runtime version",
    )
    runtime_version_id = IdFilter(label="Runtime version id")
    delegate = NaturalKeyFilter(
        field_name="delegate", model=Delegate, separator="/", lookups=("runtime__slug", "slug"), label="Delegate"
    )
    delegate_id = IdFilter(label="Delegate id")
    delegate_kind = filters.MultipleChoiceFilter(
        field_name="delegate__kind", choices=DelegateKind.choices, label="Delegate kind"
    )
    device_model = _slugs("device_model", DeviceModel, "Device model")
    device_model_id = IdFilter(label="Device model id")
    vendor = VendorFilter(method="filter_vendor", choices=_vendor_choices, label="Vendor")
    tier = filters.MultipleChoiceFilter(field_name="device_model__tier", choices=Tier.choices, label="Tier")
    os = filters.MultipleChoiceFilter(field_name="device_model__os_family", choices=OsFamily.choices, label="OS")
    status = filters.MultipleChoiceFilter(method="filter_status", choices=CompatStatus.choices, label="Status")
    overridden = filters.BooleanFilter(method="filter_overridden", label="Overridden")

    class Meta:
        model = CompatEntry
        fields: list[str] = []

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        for word in value.split():
            qs = qs.filter(
                Q(model_version__ml_model__slug__icontains=word)
                | Q(model_version__ml_model__name__icontains=word)
                | Q(model_version__version__icontains=word)
                | Q(device_model__slug__icontains=word)
                | Q(device_model__name__icontains=word)
                | Q(device_model__vendor__icontains=word)
                | Q(device_model__soc__icontains=word)
                | Q(runtime_version__runtime__slug__icontains=word)
                | Q(delegate__slug__icontains=word)
                | Q(known_issues__icontains=word)
            )
        return qs

    def filter_status(self, qs, name, value):
        # The shown status: the override when set, else the derived one.
        return qs.filter(Q(override_status__in=value) | Q(override_status="", derived_status__in=value))

    def filter_overridden(self, qs, name, value):
        return qs.exclude(override_status="") if value else qs.filter(override_status="")


class DeviceModelFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Search")
    vendor = filters.CharFilter(lookup_expr="iexact")
    tier = filters.MultipleChoiceFilter(choices=Tier.choices)
    os = filters.MultipleChoiceFilter(field_name="os_family", choices=OsFamily.choices)
    accelerator = filters.CharFilter(method="filter_accelerator")

    class Meta:
        model = DeviceModel
        fields = ["slug"]

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        return qs.filter(
            Q(slug__icontains=value) | Q(name__icontains=value) | Q(vendor__icontains=value) | Q(soc__icontains=value)
        )

    def filter_accelerator(self, qs, name, value):
        # JSON containment is not portable to SQLite; the list is tiny, so match the quoted kind in its text.
        return qs.filter(accelerators__icontains=f'"{value}"')


class RuntimeFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Search")

    class Meta:
        model = Runtime
        fields = ["slug"]

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        return qs.filter(Q(slug__icontains=value) | Q(name__icontains=value))


class RuntimeVersionFilterSet(filters.FilterSet):
    q = filters.CharFilter(field_name="version", lookup_expr="icontains", label="Search")
    runtime = _slugs("runtime", Runtime, "Runtime")
    runtime_id = IdFilter()

    class Meta:
        model = RuntimeVersion
        fields = ["version"]


class DelegateFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Search")
    runtime = _slugs("runtime", Runtime, "Runtime")
    runtime_id = IdFilter()
    kind = filters.MultipleChoiceFilter(choices=DelegateKind.choices)

    class Meta:
        model = Delegate
        fields = ["slug"]

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        return qs.filter(Q(slug__icontains=value) | Q(name__icontains=value))


class MLModelFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Search")
    task = filters.MultipleChoiceFilter(choices=ModelTask.choices)

    class Meta:
        model = MLModel
        fields = ["slug"]

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        return qs.filter(Q(slug__icontains=value) | Q(name__icontains=value) | Q(description__icontains=value))


class ModelVersionFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Search")
    model = _slugs("ml_model", MLModel, "Model")
    model_id = IdFilter(field_name="ml_model_id")
    task = filters.MultipleChoiceFilter(field_name="ml_model__task", choices=ModelTask.choices)
    precision = filters.MultipleChoiceFilter(choices=Precision.choices)
    format = filters.MultipleChoiceFilter(choices=ModelFormat.choices)

    class Meta:
        model = ModelVersion
        fields = ["version"]

    def filter_vendor(self, qs, name, value: list[str]):
        return qs.filter(device_model__vendor__in=value) if value else qs

    def filter_q(self, qs, name, value):
        return qs.filter(
            Q(ml_model__slug__icontains=value) | Q(ml_model__name__icontains=value) | Q(version__icontains=value)
        )
