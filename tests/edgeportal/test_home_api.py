"""GET /api/v1/home/: the home page's figures as numbers with units, from the selector the page renders."""

import pytest

from telemetry.kpi import selectors

from .test_home_kpis import fleet  # noqa: F401  (the fixture: a healthy Pixel fleet, a slow crashing Galaxy)

pytestmark = pytest.mark.django_db


def test_home_api_returns_the_cards_the_page_shows(client, viewer_user, fleet):  # noqa: F811
    client.force_login(viewer_user)
    page = client.get("/?range=24h")
    body = client.get("/api/v1/home/?range=24h").json()
    page_cards = {card.key: card for card in page.context["cards"]}
    api_cards = {card["key"]: card for card in body["cards"]}
    assert set(api_cards) == set(page_cards)
    for key, card in api_cards.items():
        assert (card["value"], card["display"], card["status"]) == (
            page_cards[key].value,
            page_cards[key].display,
            page_cards[key].status,
        ), key
    scope = page.context["scope"]
    kpis = selectors.kpis_get(start=scope.time_range.start, end=scope.time_range.end, filters={})
    assert api_cards["crash_free"]["value"] == pytest.approx(kpis.crash_free_sessions)
    assert api_cards["crash_free"]["unit"] == "share" and api_cards["crash_free"]["target"] == 0.995
    assert api_cards["p95_latency"]["value"] == pytest.approx(kpis.p95_latency_ms)


def test_the_latency_card_names_the_device_model_furthest_past_its_own_budget(client, viewer_user, fleet):  # noqa: F811
    client.force_login(viewer_user)
    card = next(c for c in client.get("/api/v1/home/?range=24h").json()["cards"] if c["key"] == "p95_latency")
    worst = card["worst"]
    # The Galaxy (tier 2, 120 ms budget) runs at ~150 ms; the Pixel (tier 1, 50 ms) at ~12 ms.
    assert (worst["device_model"], worst["target"]) == ("samsung-galaxy-a54", 120.0)
    assert worst["value"] == pytest.approx(155.0, rel=0.01)
    assert worst["ratio"] == pytest.approx(worst["value"] / 120.0)
    assert card["status"] == "missed"


def test_home_api_takes_the_page_filters_and_refuses_unknown_values(client, viewer_user, fleet):  # noqa: F811
    client.force_login(viewer_user)
    body = client.get("/api/v1/home/?range=24h&device_model=google-pixel-8").json()
    assert body["worst_cohorts"] == [] and body["worst_cohorts_total"] == 0
    response = client.get("/api/v1/home/?device_model=no-such-phone")
    assert response.status_code == 400 and "device_model" in str(response.json())


def test_home_api_needs_the_read_scope(api_client, make_api_key, fleet):  # noqa: F811
    assert api_client.get("/api/v1/home/").status_code in (401, 403)
    _, ingest = make_api_key(scopes=["ingest"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest}")
    assert api_client.get("/api/v1/home/").status_code == 403
    _, reader = make_api_key(scopes=["read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    response = api_client.get("/api/v1/home/?range=7d")
    assert response.status_code == 200 and len(response.json()["cards"]) == 8


def test_home_api_query_count_is_pinned(client, viewer_user, fleet, django_assert_max_num_queries):  # noqa: F811
    client.force_login(viewer_user)
    client.get("/api/v1/home/?range=30d")
    with django_assert_max_num_queries(60):  # as the page: 45 for the fleet figures, 15 for the release KPIs
        assert client.get("/api/v1/home/?range=30d").status_code == 200
