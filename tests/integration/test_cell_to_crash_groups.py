"""A compat cell links to the crash groups of exactly its cohort (compat links; it never imports telemetry)."""

import re

import pytest

from compat.models import CompatEntry
from tests.telemetry.fleet_factories import catalog_make, crash_group_make, device_make

pytestmark = pytest.mark.django_db


def test_cell_page_links_to_the_crash_groups_of_its_cohort_only(client, viewer_user):
    c = catalog_make()
    pixel = device_make(c)
    on_cell = crash_group_make(c, devices=[pixel], title="GPU delegate crash")
    crash_group_make(c, devices=[pixel], delegate=c.cpu, title="XNNPACK crash")  # another delegate: another cell
    entry = CompatEntry.objects.create(
        model_version=c.v1, runtime_version=c.tflite_216, delegate=c.gpu, device_model=c.pixel
    )
    client.force_login(viewer_user)
    html = client.get(f"/compat/cell/{entry.pk}/").content.decode()
    link = re.search(r'href="(/crashes/\?[^"]+)">Crash groups on this cell', html).group(1).replace("&amp;", "&")
    assert [group.pk for group in client.get(link).context["page"]] == [on_cell.pk]
