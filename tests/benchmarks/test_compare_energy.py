"""Energy per inference in the comparison report (issue 19, item 5): beside latency, "not reported" when a run lacks it."""

import csv
import io
import re

import pytest

from benchmarks.models import BenchmarkRun

from .conftest import make_run

pytestmark = pytest.mark.django_db
COMPARE = "/benchmarks/compare/"


@pytest.fixture
def pair(catalog):
    return make_run(day=1, mean=10.0), make_run(day=2, mean=12.0)


def _energy_cells(html):
    row = re.search(r"<tr><td>Energy per inference \(mJ\)</td>(.*?)</tr>", html, re.S)
    assert row, "no energy row"
    return [cell.strip() for cell in re.findall(r'<td class="num">(.*?)</td>', row[1], re.S)]


def test_energy_sits_beside_latency_with_its_change(client, viewer_user, pair):
    a, b = pair
    BenchmarkRun.objects.filter(pk=a.pk).update(energy_mj_per_inference=3.0)
    BenchmarkRun.objects.filter(pk=b.pk).update(energy_mj_per_inference=2.5)
    client.force_login(viewer_user)

    response = client.get(COMPARE, {"a": a.id, "b": b.id})

    labels = [row.label for row in response.context["comparison"].rows]
    assert labels.index("Energy per inference") == labels.index("Latency max") + 1  # right after the latency rows
    assert _energy_cells(response.content.decode()) == ["3.0000", "2.5000", f"{(3.0 - 2.5) / 2.5 * 100:+.1f} %"]
    rows = {row["metric"]: row for row in csv.DictReader(io.StringIO(client.get(
        COMPARE, {"a": a.id, "b": b.id, "format": "csv"}).content.decode()))}  # fmt: skip
    energy = rows["Energy per inference"]
    assert (float(energy[f"run_{a.id}"]), float(energy[f"run_{b.id}"])) == (3.0, 2.5)


def test_a_run_without_energy_says_not_reported_never_zero(client, viewer_user, pair):
    a, b = pair
    BenchmarkRun.objects.filter(pk=b.pk).update(energy_mj_per_inference=2.5)
    client.force_login(viewer_user)

    html = client.get(COMPARE, {"a": a.id, "b": b.id}).content.decode()
    markdown = client.get(COMPARE, {"a": a.id, "b": b.id, "format": "md"}).content.decode()

    assert _energy_cells(html) == ["not reported", "2.5000", "—"]
    assert "| Energy per inference | mJ | not reported | 2.5 |" in markdown
    exported = client.get(COMPARE, {"a": a.id, "b": b.id, "format": "csv"}).content.decode()
    csv_row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["metric"] == "Energy per inference")
    assert csv_row[f"run_{a.id}"] == ""  # machine-readable null in the export
