"""Fixtures of the ingest API tests: the catalog the factories' events name, and an ingest key."""

import pytest

from tests.telemetry.fleet_factories import catalog_make


@pytest.fixture
def catalog(db):
    return catalog_make()


@pytest.fixture
def raw_key(ingest_key, catalog):
    return ingest_key[1]
