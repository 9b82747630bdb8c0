"""Every figure of a verdict against an independent computation from the raw rows (percentiles within the
histogram's 1 % accuracy): sessions, devices, KPIs vs targets, crash groups' device share, lab runs, regressions."""

import pytest

from core.slo import SloTargets
from readiness import rules
from readiness.selectors import path_readiness_get, version_readiness_get
from telemetry.models import CrashReport
from tests.telemetry.rollup_factories import exact_quantile

from .conftest import raw_sessions

pytestmark = pytest.mark.django_db
TARGETS = SloTargets()


def truth(release, entry) -> dict:
    """The field figures of a path, brute force from its raw session rows."""
    sessions = raw_sessions(release, entry)
    inferences = sum(s.inferences for s in sessions)
    accelerated = [(s.accelerated_fraction, s.inferences) for s in sessions if s.accelerated_fraction is not None]
    return {
        "sessions": len(sessions),
        "devices": len({s.device_id for s in sessions}),
        "p95_latency_ms": exact_quantile([x for s in sessions for x in release.samples[s.pk]], 0.95),
        "crash_free_sessions": 1 - sum(s.has_crash for s in sessions) / len(sessions),
        "errors_per_1k": 1000 * sum(s.errors for s in sessions) / inferences,
        "accelerator_utilization": sum(f * n for f, n in accelerated) / sum(n for _, n in accelerated),
        "peak_rss_mb_p95": exact_quantile([s.peak_rss_mb for s in sessions], 0.95),
    }


def paths_of(report) -> dict[int, object]:
    return {path.entry.pk: path for path in report.paths}


def test_field_figures_of_each_path_are_the_raw_sessions_of_its_window(release):
    paths = paths_of(version_readiness_get(model_version=release.c.v2, now=release.now))
    for entry in (release.pixel_gpu, release.galaxy_gpu):
        want, got = truth(release, entry), paths[entry.pk].facts.field
        assert (got.sessions, got.devices) == (want["sessions"], want["devices"])
        assert got.crash_free_sessions == pytest.approx(want["crash_free_sessions"], rel=1e-12)
        assert got.errors_per_1k == pytest.approx(want["errors_per_1k"], rel=1e-12)
        assert got.accelerator_utilization == pytest.approx(want["accelerator_utilization"], rel=1e-12)
        assert got.p95_latency_ms == pytest.approx(want["p95_latency_ms"], rel=0.01)
        assert got.peak_rss_mb_p95 == pytest.approx(want["peak_rss_mb_p95"], rel=0.01)
    assert (paths[release.pixel_gpu.pk].facts.field.devices, paths[release.galaxy_gpu.pk].facts.field.devices) == (6, 4)


def test_each_judged_kpi_is_the_field_figure_against_its_own_target(release):
    path = path_readiness_get(entry_id=release.galaxy_gpu.pk, now=release.now)
    want = truth(release, release.galaxy_gpu)
    judged = {k.kpi: k for k in path.readiness.kpis}
    assert judged["p95_latency_ms"].target == TARGETS.p95_latency_ms(2) == 120.0  # Galaxy A54 is tier 2
    assert judged["p95_latency_ms"].value == pytest.approx(want["p95_latency_ms"], rel=0.01)
    assert judged["p95_latency_ms"].status == "missed"
    assert judged["peak_rss_mb_p95"].target == 300.0  # its memory budget
    assert judged["crash_free_sessions"].target == TARGETS.crash_free_sessions
    assert {k.source for k in judged.values()} == {"field"}
    assert path.readiness.verdict == rules.NOT_READY
    assert path.readiness.reasons[0].text.startswith("p95 latency ")
    assert path.readiness.reasons[0].text.endswith(
        f"misses the 120 ms target ({want['sessions']} sessions on {want['devices']} devices)"
    )


def test_open_crash_group_share_is_its_devices_in_the_window_over_the_paths_active_devices(release):
    path = path_readiness_get(entry_id=release.pixel_gpu.pk, now=release.now)
    entry = release.pixel_gpu
    reports = CrashReport.objects.filter(
        group__status__in=("new", "triaged", "regressed"), model_version=entry.model_version,
        runtime_version=entry.runtime_version, delegate=entry.delegate, device_model=entry.device_model,
        occurred_at__gte=release.start, occurred_at__lt=release.end,
    )  # fmt: skip
    hit = len({r.device_id for r in reports})
    active = truth(release, entry)["devices"]
    (group,) = path.facts.crash_groups
    assert (group.id, group.devices, group.events) == (release.open_group.pk, hit, reports.count()) == (
        release.open_group.pk, 2, 4)  # fmt: skip
    assert path.readiness.crash_shares == {group.id: pytest.approx(hit / active)}
    reason = next(r for r in path.readiness.reasons if r.code == "crash_group")
    assert f"on {hit} of {active} devices (33.3 %), 4 crashes" in reason.text
    assert reason.severity == rules.BLOCKER and reason.link == f"/crashes/{group.id}/"


def test_lab_facts_are_the_windows_runs_and_live_regressions_of_the_path(release):
    path = path_readiness_get(entry_id=release.pixel_cpu.pk, now=release.now)
    lab = path.facts.lab
    assert (lab.runs, lab.run_id, lab.p95_latency_ms, lab.peak_memory_mb) == (1, release.run.pk, 31.0, 90.0)
    assert lab.failed_run_id is None  # the failure came before the newest (successful) run
    assert path.facts.field is None
    assert [(r.id, r.status) for r in path.facts.regressions] == [(release.regression.pk, "open")]
    assert [r.code for r in path.readiness.reasons] == ["lab_regression", "no_field_sessions"]
    assert path.readiness.verdict == rules.NOT_READY
    assert [(k.kpi, k.source, k.value) for k in path.readiness.kpis][:1] == [("p95_latency_ms", "lab", 31.0)]


def test_the_version_is_not_ready_naming_each_device_model_that_blocks(release):
    report = version_readiness_get(model_version=release.c.v2, now=release.now)
    assert report.readiness.verdict == rules.NOT_READY
    verdicts = {row.device_model.slug: row.readiness.verdict for row in report.device_models}
    assert verdicts == {"google-pixel-8": rules.NOT_READY, "samsung-galaxy-a54": rules.NOT_READY}
    assert [r.text.split(":")[0] for r in report.readiness.reasons] == [
        "not ready on Google Pixel 8", "not ready on Samsung Galaxy A54"]  # fmt: skip


def test_resolving_the_crash_group_and_fixing_the_regression_lifts_their_blocks(release):
    release.open_group.status = "resolved"
    release.open_group.save()
    release.regression.status = "fixed"
    release.regression.save()
    pixel_gpu = path_readiness_get(entry_id=release.pixel_gpu.pk, now=release.now)
    assert "crash_group" not in [r.code for r in pixel_gpu.readiness.reasons]
    pixel_cpu = path_readiness_get(entry_id=release.pixel_cpu.pk, now=release.now)
    assert pixel_cpu.readiness.verdict == rules.CAVEATS  # judged on the lab alone: no field sessions yet
