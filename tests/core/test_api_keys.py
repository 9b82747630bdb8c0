import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import ApiKey, api_key_hash
from core.services import api_key_revoke

pytestmark = pytest.mark.django_db


def test_created_key_is_stored_hashed_with_only_its_prefix_in_clear(make_api_key):
    api_key, raw_key = make_api_key(scopes=["ingest"])
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw_key.startswith(f"ep_{stored.prefix}_")
    assert stored.key_hash == api_key_hash(raw_key)
    assert raw_key not in (stored.key_hash, stored.prefix, stored.name)


def test_create_api_key_command_prints_the_key_alone_on_its_last_line(capsys):
    call_command("create_api_key", "--name", "pixel lab", "--scope", "ingest", "--device", "pixel8-000042")
    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    api_key = ApiKey.objects.get(name="pixel lab")
    assert api_key.key_hash == api_key_hash(raw_key)
    assert api_key.device_uid == "pixel8-000042"
    assert api_key.scopes == ["ingest"]


def test_create_api_key_command_refuses_read_scope_on_a_device_key():
    with pytest.raises(CommandError, match="device-bound key cannot have the read scope"):
        call_command("create_api_key", "--name", "bad", "--scope", "read", "--device", "pixel8-1")
    assert not ApiKey.objects.exists()


def test_me_reports_key_name_scopes_and_bound_device(api_client, make_api_key):
    _, raw_key = make_api_key(scopes=["ingest"], device_uid="pixel8-000042", name="pixel 42")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {
        "kind": "api_key",
        "key_name": "pixel 42",
        "key_prefix": raw_key.split("_")[1],
        "scopes": ["ingest"],
        "device_uid": "pixel8-000042",
        "fleet": None,
    }


def test_me_reports_user_and_role_for_a_session(client, support_user):
    client.force_login(support_user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json() == {"kind": "user", "user": "support-sam", "role": "support"}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Authentication credentials were not provided."),
        ("Bearer ep_deadbeef_not-a-real-key", "Invalid API key."),
        ("Bearer garbage", "Invalid API key."),
        ("Bearer two words", "Malformed Authorization header"),
    ],
)
def test_missing_or_unknown_key_is_401_with_a_bearer_challenge(api_client, authorization, message):
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert message in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_401(api_client, make_api_key):
    api_key, raw_key = make_api_key(scopes=["read"])
    api_key_revoke(api_key=api_key)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = api_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["detail"] == "This API key has been revoked."


def test_key_with_right_prefix_but_wrong_secret_is_401(api_client, make_api_key):
    _, raw_key = make_api_key(scopes=["read"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key[:-4]}AAAA")
    assert api_client.get("/api/v1/me/").status_code == 401


def test_last_used_at_is_recorded(api_client, make_api_key):
    api_key, raw_key = make_api_key(scopes=["read"])
    assert api_key.last_used_at is None
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    api_client.get("/api/v1/me/")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
