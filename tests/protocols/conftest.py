"""Fixtures of the protocol adapters' tests: the catalog and keys, a DSN for a live server, a Sentry app runner."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.telemetry.fleet_factories import catalog_make

HERE = Path(__file__).resolve().parent


@pytest.fixture
def catalog(db):
    return catalog_make()


def dsn_create(base_url: str, **options) -> str:
    out = io.StringIO()
    call_command("create_api_key", name="sentry app", scopes=["ingest"], dsn=base_url, stdout=out,
                 stderr=io.StringIO(), **options)  # fmt: skip
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def live_dsn(live_server, catalog):
    return dsn_create(live_server.url)


@pytest.fixture
def run_sentry_app():
    """Runs tests/protocols/sentry_app.py in its own process, as a device would; returns its exit code."""

    def run(mode: str, *, dsn: str, device_uid: str = "pixel8-000042", release: str = "edgeapp@3.2.1") -> int:
        env = {**os.environ, "SENTRY_DSN": dsn, "DEVICE_UID": device_uid, "RELEASE": release}
        done = subprocess.run([sys.executable, str(HERE / "sentry_app.py"), mode], env=env, capture_output=True,
                              timeout=60, text=True)  # fmt: skip
        if mode != "uncaught":
            assert done.returncode == 0, done.stderr
        return done.returncode

    return run
