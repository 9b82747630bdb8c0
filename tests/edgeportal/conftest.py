import dj_database_url
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.utils import load_backend

from edgeportal import replica


@pytest.fixture
def replica_alias(settings, monkeypatch):
    """Turns the read replica on for one test, at a URL of the test's choosing, on the test database's name.

    At run time, not in settings.DATABASES: the suite runs without a replica (a test wrapped in a transaction could
    not see its own rows on another connection), and Django's test cases refuse queries to a configured alias the
    test did not declare, but not to a connection made at run time.
    """
    monkeypatch.setattr(replica, "_last_state", None)  # no lag measured by another test

    def install(url: str):
        conf = dj_database_url.parse(url)
        conf["NAME"] = connection.settings_dict["NAME"]
        default = {**connections.settings[DEFAULT_DB_ALIAS]}
        conf = connections.configure_settings({DEFAULT_DB_ALIAS: default, replica.REPLICA: conf})[replica.REPLICA]
        settings.DATABASE_REPLICA_URL = url
        connections[replica.REPLICA] = load_backend(conf["ENGINE"]).DatabaseWrapper(conf, replica.REPLICA)
        return connections[replica.REPLICA]

    yield install
    if hasattr(connections._connections, replica.REPLICA):
        connections[replica.REPLICA].close()
        del connections[replica.REPLICA]
