"""create_api_key --dsn: a DSN Sentry SDKs accept, carrying an ingest key and its id as the project."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from sentry_sdk.consts import EndpointType
from sentry_sdk.utils import Dsn

from core.models import ApiKey
from tests.protocols.conftest import dsn_create

pytestmark = pytest.mark.django_db


def test_the_dsn_parses_in_sentry_sdk_and_names_the_key_and_its_id():
    dsn = Dsn(dsn_create("https://portal.example.com:8443"))

    key = ApiKey.objects.get()
    assert (dsn.host, dsn.port, dsn.project_id) == ("portal.example.com", 8443, str(key.pk))
    assert dsn.public_key.startswith(f"ep_{key.prefix}_")
    assert dsn.to_auth().get_api_url(EndpointType.ENVELOPE) == f"https://portal.example.com:8443/api/{key.pk}/envelope/"


def test_a_portal_address_without_scheme_is_refused_and_leaves_no_key():
    with pytest.raises(CommandError, match="DSN needs the portal's URL"):
        call_command("create_api_key", name="x", scopes=["ingest"], dsn="portal.example.com", stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
    assert not ApiKey.objects.exists()


def test_an_ingest_key_created_in_the_admin_comes_with_its_dsn(client, django_user_model, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    from django.contrib.messages import get_messages

    from core.models import api_key_hash

    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-Unused-1"))
    form = {"name": "field app", "scopes": ["ingest"], "fleet": "", "device_uid": ""}
    response = client.post("/admin/edgeportal/apikey/add/", form, HTTP_HOST="portal.example.com", secure=True)
    assert response.status_code == 302, response.content
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    [dsn_text] = [t.rsplit(" ", 1)[1] for t in texts if "Sentry DSN" in t]
    dsn, key = Dsn(dsn_text), ApiKey.objects.get()
    assert (dsn.scheme, dsn.host, dsn.project_id) == ("https", "portal.example.com", str(key.pk))
    assert api_key_hash(dsn.public_key) == key.key_hash  # the DSN carries the key itself
    client = Client()  # a fresh session: the first request's messages were never displayed
    client.force_login(django_user_model.objects.get())
    reader = client.post("/admin/edgeportal/apikey/add/", {**form, "name": "reader", "scopes": ["read"]}, secure=True,
                         HTTP_HOST="portal.example.com")  # fmt: skip
    texts = [str(m) for m in get_messages(reader.wsgi_request)]
    assert any("not be shown again" in t for t in texts) and not any("Sentry DSN" in t for t in texts)
