"""GET /api/v1/protocols/release-health/: bad times are a 400 naming the parameter, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "params",
    [
        {"from": "1242-08-11T12:15:31-19:09"},  # an offset PostgreSQL refuses: was a 500 (schema fuzzing)
        {"to": "9999-12-31T00:00:00Z"},
        {"from": "yesterday"},
        {"from": "2026-12-02", "to": "2026-12-01"},
    ],
)
def test_release_health_times_are_read_by_the_one_strict_parser(read_client, params):
    response = read_client.get("/api/v1/protocols/release-health/", params)
    assert response.status_code == 400, response.content
    assert set(response.json()["detail"]) & {"from", "to"}
