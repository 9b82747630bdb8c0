import django_filters
from django.db.models import Q

from compat.filtersets import SlugMultipleChoiceFilter
from compat.models import Delegate, DeviceModel, MLModel, Runtime
from core.filters import IdFilter

from .models import BenchmarkRun, Regression, RegressionStatus, RunStatus, SourceFormat


def _delegate_slugs() -> list[tuple[str, str]]:
    # One choice per slug: "gpu" names a delegate of several runtimes, and a run filter by slug means all of them.
    slugs = Delegate.objects.order_by("slug").values_list("slug", flat=True).distinct()
    return [(slug, slug) for slug in slugs]


class BenchmarkRunFilterSet(django_filters.FilterSet):
    """Runs by catalog slug or id, status, format, time range and free text; shared by the page and the API."""

    model = SlugMultipleChoiceFilter(
        label="Model", field_name="model_version__ml_model__slug", to_field_name="slug", queryset=MLModel.objects.all()
    )
    model_version = django_filters.CharFilter(label="Model version", field_name="model_version__version")
    model_version_id = IdFilter(label="Model version id")
    runtime = SlugMultipleChoiceFilter(
        label="Runtime",
        field_name="runtime_version__runtime__slug",
        to_field_name="slug",
        queryset=Runtime.objects.all(),
    )
    runtime_version = django_filters.CharFilter(label="Runtime version", field_name="runtime_version__version")
    runtime_version_id = IdFilter(label="Runtime version id")
    delegate = django_filters.MultipleChoiceFilter(
        label="Delegate", field_name="delegate__slug", choices=_delegate_slugs
    )
    delegate_id = IdFilter(label="Delegate id")
    device_model = SlugMultipleChoiceFilter(
        label="Device model", field_name="device_model__slug", to_field_name="slug", queryset=DeviceModel.objects.all()
    )
    device_model_id = IdFilter(label="Device model id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices, label="Status")
    source_format = django_filters.ChoiceFilter(choices=SourceFormat.choices, label="Format")
    series = IdFilter(field_name="series_id", label="Series id")
    from_ = django_filters.IsoDateTimeFilter(field_name="ran_at", lookup_expr="gte", label="From")
    to = django_filters.IsoDateTimeFilter(field_name="ran_at", lookup_expr="lt", label="To")
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = BenchmarkRun
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword; the public parameter name is still ?from=
        self.filters["from"] = self.filters.pop("from_")

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(build__icontains=value)
            | Q(commit__istartswith=value)
            | Q(error__icontains=value)
            | Q(model_version__ml_model__name__icontains=value)
            | Q(device_model__name__icontains=value)
        )


class RegressionFilterSet(django_filters.FilterSet):
    """Regressions by status, metric and the series' catalog identity."""

    status = django_filters.MultipleChoiceFilter(choices=RegressionStatus.choices, label="Status")
    metric = django_filters.CharFilter(label="Metric")
    model = django_filters.CharFilter(field_name="series__ml_model__slug", label="Model")
    runtime = django_filters.CharFilter(field_name="series__runtime__slug", label="Runtime")
    delegate = django_filters.CharFilter(field_name="series__delegate__slug", label="Delegate")
    device_model = django_filters.CharFilter(field_name="series__device_model__slug", label="Device model")
    device_model_id = IdFilter(field_name="series__device_model_id", label="Device model id")
    series = IdFilter(field_name="series_id", label="Series id")
    from_ = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="gte", label="From")
    to = django_filters.IsoDateTimeFilter(field_name="detected_at", lookup_expr="lt", label="To")

    class Meta:
        model = Regression
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["from"] = self.filters.pop("from_")
