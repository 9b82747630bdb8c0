"""create_api_key --dsn: a DSN Sentry SDKs accept, carrying an ingest key and its id as the project."""

import io

import pytest
from django.core.management import CommandError, call_command
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


def test_a_portal_address_without_scheme_is_refused():
    with pytest.raises(CommandError, match="--dsn needs the portal's URL"):
        call_command("create_api_key", name="x", scopes=["ingest"], dsn="portal.example.com", stdout=io.StringIO(),
                     stderr=io.StringIO())  # fmt: skip
