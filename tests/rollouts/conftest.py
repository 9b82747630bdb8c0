import pytest


@pytest.fixture
def catalog(db):
    from .factories import catalog_make

    return catalog_make()


@pytest.fixture
def admin_client(admin_user_role):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user_role)
    return client


@pytest.fixture
def viewer_client(viewer_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def writer_client(db):
    """An API key with the rollouts:write scope (stored directly: core's scope list does not know it yet)."""
    from core.models import ApiKey, api_key_generate, api_key_hash

    prefix, raw = api_key_generate()
    ApiKey.objects.create(
        name="release-ci", prefix=prefix, key_hash=api_key_hash(raw), scopes=["rollouts:write", "read"]
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def rollout_body(**overrides) -> dict:
    body = {
        "name": "yolov8n 1.5 on tier 1",
        "model": "yolov8n",
        "baseline_version": "1.4.0",
        "candidate_version": "1.5.0",
        "scope": {"device_model": ["google-pixel-8"], "tier": [1], "os_version": [], "app_version": []},
        "stages": [
            {"percent": 5, "min_hours": 24, "min_sessions": 2000},
            {"percent": 25, "min_hours": 24, "min_sessions": 5000},
            {"percent": 100},
        ],
        "control_percent": 5,
        "guardrails": [
            {"kpi": "crash_free_sessions", "max_regression": 0.002},
            {"kpi": "p95_latency_ms", "max_regression": 0.10, "per_device_model": True},
            {"kpi": "errors_per_1k", "max_regression": 0.5},
            {"kpi": "accelerator_utilization", "max_regression": 0.05},
        ],
        "on_failure": "rollback",
        "auto_advance": False,
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_rollout(admin_client, catalog):
    def make(**overrides) -> dict:
        response = admin_client.post("/api/v1/rollouts/", rollout_body(**overrides), format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make
