"""One slug vocabulary for filters, human labels on every filter."""

import pytest

from benchmarks.filtersets import BenchmarkRunFilterSet, RegressionFilterSet
from compat.filtersets import CompatEntryFilterSet
from compat.models import CompatEntry

pytestmark = pytest.mark.django_db


def test_vendor_filters_by_slug_like_every_other_filter(catalog, viewer_user, client):
    vendor_name = catalog.pixel.vendor  # "Google"
    qs = CompatEntry.objects.all()
    by_slug = CompatEntryFilterSet({"vendor": [vendor_name.lower()]}, queryset=qs)
    assert by_slug.is_valid(), by_slug.errors
    assert set(by_slug.qs.values_list("device_model__vendor", flat=True)) <= {vendor_name}
    assert not CompatEntryFilterSet({"vendor": ["no-such-vendor"]}, queryset=qs).is_valid()
    client.force_login(viewer_user)
    assert client.get(f"/compat/?vendor={vendor_name.lower()}").status_code == 200


@pytest.mark.parametrize("filterset", [BenchmarkRunFilterSet, RegressionFilterSet, CompatEntryFilterSet])
def test_every_filter_has_a_human_label(filterset):
    for name, field in filterset().form.fields.items():
        label = str(field.label)
        assert label and "slug" not in label.lower() and "ml model" not in label.lower(), (name, label)
