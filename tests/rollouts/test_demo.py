"""The rollout demo step: skipped (and saying how to run it) below SIZE=full; at full it seeds once."""

import io

import pytest

from rollouts import demo
from rollouts.models import Rollout
from rollouts.simulation import MODEL, catalog_ensure

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("size", ["small", "standard"])
def test_the_default_demo_skips_the_rollout_simulation_and_says_how_to_run_it(size):
    out = io.StringIO()
    demo.step(size=size, stdout=out, progress=None)
    assert f"skipped at SIZE={size}" in out.getvalue() and "simulate_rollout" in out.getvalue()
    assert not Rollout.objects.exists()


def test_the_full_demo_keeps_rollouts_already_seeded():
    from compat.models import ModelVersion

    catalog_ensure()
    versions = {v.version: v for v in ModelVersion.objects.filter(ml_model__slug=MODEL)}
    seeded = Rollout.objects.create(
        name="seeded", ml_model=versions["1.0.0"].ml_model, baseline_version=versions["1.0.0"],
        candidate_version=versions["1.1.0"], stages=[{"percent": 100}],
    )  # fmt: skip
    out = io.StringIO()
    demo.step(size="full", stdout=out, progress=None)
    assert f"demo rollouts already there ([{seeded.pk}])" in out.getvalue()
    assert Rollout.objects.count() == 1
