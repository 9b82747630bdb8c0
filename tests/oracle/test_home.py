"""The KPI home (`/` and `GET /api/v1/home/`) shows exactly the oracle's figures for the planted fleet."""

import pytest

from .asserts import assert_percentile, assert_same
from .brute import (
    ACCELERATOR_TARGET,
    CRASH_FREE_TARGET,
    ERRORS_PER_1K_TARGET,
    Oracle,
    status,
)
from .plant import DEVICE_MODELS, MODEL, MODEL_VERSIONS

pytestmark = pytest.mark.django_db

SHARE_CARDS = {"crash_free": ("crash_free_sessions", CRASH_FREE_TARGET, True),
               "errors_per_1k": ("errors_per_1k", ERRORS_PER_1K_TARGET, False),
               "accelerator": ("accelerator_utilization", ACCELERATOR_TARGET, True)}  # fmt: skip
PER_DEVICE_MODEL_CARDS = {"p95_latency": "p95_latency_ms", "memory": "peak_rss_mb_p95"}


@pytest.fixture
def home(page):
    return page("/?range=7d").context


@pytest.fixture
def home_api(page):
    return page("/api/v1/home/?range=7d").json()


def test_the_planted_fleet_makes_worst_a_question_of_ratio_not_of_value(oracle: Oracle):
    """The plant itself: the device model furthest past its own target is not the one with the largest value."""
    start, end = oracle.calendar_range(7)
    for kpi in PER_DEVICE_MODEL_CARDS.values():
        rows = oracle.per_device_model(start, end, kpi)
        by_value = max(rows, key=lambda row: row[1])[0]
        assert oracle.worst(start, end, kpi)[0] != by_value, kpi
    assert oracle.worst(start, end, "p95_latency_ms")[0] != oracle.worst(start, end, "peak_rss_mb_p95")[0]


def test_home_counts(oracle: Oracle, home, home_api):
    want = {"devices": len(oracle.fleet.devices), "device_models": len(DEVICE_MODELS),
            "model_versions": len(MODEL_VERSIONS), "runs": 0}  # fmt: skip
    assert home["counts"] == want
    assert home_api["counts"] == want


@pytest.mark.parametrize("key", SHARE_CARDS)
def test_fleet_wide_cards_value_status_and_trend(oracle: Oracle, home, home_api, key):
    attr, target, higher = SHARE_CARDS[key]
    want = getattr(oracle.figures(*oracle.calendar_range(7)), attr)
    before = getattr(oracle.figures(*oracle.previous_range(7)), attr)
    card = next(c for c in home["cards"] if c.key == key)
    api = next(c for c in home_api["cards"] if c["key"] == key)
    for value, card_status, target_got, delta in (
        (card.value, card.status, card.target, card.trend.delta),
        (api["value"], api["status"], api["target"], api["trend"]["delta"]),
    ):
        assert_same(value, want, key)
        assert card_status == status(want, target, higher_is_better=higher), key
        assert target_got == target
        assert_same(delta, want - before, f"{key} trend")


@pytest.mark.parametrize("key", PER_DEVICE_MODEL_CARDS)
def test_per_device_model_cards_name_the_model_furthest_past_its_own_target(oracle: Oracle, home, home_api, key):
    attr = PER_DEVICE_MODEL_CARDS[key]
    start, end = oracle.calendar_range(7)
    want_value = getattr(oracle.figures(start, end), attr)
    slug, worst_value, worst_target = oracle.worst(start, end, attr)
    want_status = oracle.per_device_model_status(start, end, attr)
    card = next(c for c in home["cards"] if c.key == key)
    api = next(c for c in home_api["cards"] if c["key"] == key)

    assert_percentile(card.value, want_value, key)
    assert_percentile(api["value"], want_value, key)
    assert card.status == api["status"] == want_status
    assert card.worst.device_model == api["worst"]["device_model"] == slug
    assert card.worst.name == api["worst"]["name"] == DEVICE_MODELS[slug].label
    assert card.worst.target == api["worst"]["target"] == worst_target
    assert_percentile(card.worst.value, worst_value, f"{key} worst")
    assert_percentile(api["worst"]["ratio"], worst_value / worst_target, f"{key} worst ratio")
    assert DEVICE_MODELS[slug].label in card.note


def test_p95_trend_is_against_the_previous_period(oracle: Oracle, home):
    now = oracle.figures(*oracle.calendar_range(7)).p95_latency_ms
    before = oracle.figures(*oracle.previous_range(7)).p95_latency_ms
    card = next(c for c in home["cards"] if c.key == "p95_latency")
    # Both ends within the histogram's accuracy: the delta within the sum of their allowances.
    assert abs(card.trend.delta - (now - before)) <= 0.01 * (now + before) * (1 + 1e-9)
    assert card.trend.direction == ("worse" if now > before else "better")


def test_adoption_card_is_the_leading_versions_share_of_the_last_day(oracle: Oracle, home, home_api):
    shares = oracle.adoption_latest_day(*oracle.calendar_range(7))
    leader = max(shares, key=shares.get)
    card = next(c for c in home["cards"] if c.key == "adoption")
    assert_same(card.value, shares[leader], "adoption")
    assert_same(next(c for c in home_api["cards"] if c["key"] == "adoption")["value"], shares[leader])
    assert card.note.startswith(f"{MODEL} {leader} leads")


def test_lab_coverage_counts_the_active_pairs_none_of_them_benchmarked(oracle: Oracle, home):
    pairs = oracle.active_pairs(*oracle.calendar_range(7))
    card = next(c for c in home["cards"] if c.key == "lab_coverage")
    assert card.value == 0.0 and card.status == "missed"  # no lab run was planted
    assert f"0 of {len(pairs)} active" in card.note
    assert f"(0 of {sum(pairs.values()):,} device-pairs)" in card.note


def test_worst_cohorts_are_the_cohorts_missing_a_target(oracle: Oracle, home, home_api):
    missing = oracle.cohort_misses(*oracle.calendar_range(7))
    page = {(r["device_model"].slug, r["model_version"].version, r["delegate"].slug): r for r in home["worst_cohorts"]}
    api = {(r["device_model"], r["model_version"], r["delegate"]): r for r in home_api["worst_cohorts"]}
    assert set(page) == set(api) == set(missing)
    assert home["worst_cohorts_total"] == home_api["worst_cohorts_total"] == len(missing)
    for cohort, (want, misses) in missing.items():
        assert sorted(page[cohort]["misses"]) == sorted(api[cohort]["misses"]) == sorted(misses), cohort
        assert page[cohort]["kpis"].sessions == api[cohort]["sessions"] == want.sessions
        assert page[cohort]["kpis"].devices == api[cohort]["devices"] == want.devices
    order = sorted(missing, key=lambda c: (-missing[c][0].devices, -missing[c][0].sessions))
    got_order = [(r["device_model"], r["model_version"], r["delegate"]) for r in home_api["worst_cohorts"]]
    assert [missing[c][0].devices for c in got_order] == [missing[c][0].devices for c in order]
