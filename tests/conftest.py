"""Shared fixtures: users per role, API keys, clients, service detection and a real Celery worker."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection

# Model-touching imports live inside the fixtures, so pure-module suites (importers, detection, SDK)
# can also run without Django: `pytest tests/client -p no:django`.

REQUIRE_SERVICES = os.environ.get("EDGEPORTAL_REQUIRE_SERVICES") == "1"
ROOT = Path(__file__).resolve().parent.parent
MQTT_BROKER_URL = os.environ.get("MQTT_BROKER_URL", "mqtt://127.0.0.1:1883")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
# A streaming replica of the test PostgreSQL cluster (scripts/replica.sh start); the database name is ignored:
# the replica tests read the replica's copy of the test database.
REPLICA_URL = os.environ.get("EDGEPORTAL_TEST_REPLICA_URL")


def _reachable(url: str | None, default_port: int) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def _missing_service(item) -> str | None:
    if item.get_closest_marker("postgres") or item.get_closest_marker("celery_worker"):
        if not settings.IS_POSTGRES:
            return "needs PostgreSQL: set DATABASE_URL=postgres://... (running on SQLite)"
    if item.get_closest_marker("redis") or item.get_closest_marker("celery_worker"):
        if not _reachable(settings.CELERY_BROKER_URL or os.environ.get("REDIS_URL"), 6379):
            return (
                "needs Redis: set CELERY_BROKER_URL/REDIS_URL=redis://127.0.0.1:6379/N (not configured or unreachable)"
            )
    if item.get_closest_marker("replica"):
        if not settings.IS_POSTGRES:
            return "needs PostgreSQL and a streaming replica of it (running on SQLite)"
        if not _reachable(REPLICA_URL, 5432):
            return (
                "needs a streaming replica: scripts/replica.sh start, then "
                "EDGEPORTAL_TEST_REPLICA_URL=postgres://postgres@127.0.0.1:5433/postgres (not set or unreachable)"
            )
    if item.get_closest_marker("mqtt") and not _reachable(MQTT_BROKER_URL, 1883):
        return f"needs an MQTT broker at {MQTT_BROKER_URL} (apt-get install mosquitto; set MQTT_BROKER_URL)"
    if item.get_closest_marker("prometheus") and not Path(PROMETHEUS).exists():
        return f"needs Debian's prometheus at {PROMETHEUS} (apt-get install prometheus)"
    if item.get_closest_marker("browser") and not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        return "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
    return None


def pytest_runtest_setup(item):
    reason = _missing_service(item)
    if reason:
        if REQUIRE_SERVICES:
            pytest.fail(f"EDGEPORTAL_REQUIRE_SERVICES=1 but this test {reason}")
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _tasks_run_in_process(request):
    """Tasks run eagerly in tests unless the test drives a real worker (then they go through the broker)."""
    from edgeportal.celery import app

    app.conf.task_always_eager = not request.node.get_closest_marker("celery_worker")
    yield
    app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER


@pytest.fixture(autouse=True)
def _replica_reads_only_in_replica_tests(request, monkeypatch):
    """With DATABASE_REPLICA_URL set for a run, only the replica tests route reads: a test's rows are uncommitted
    (invisible to a standby) unless it is transactional, and Django refuses a database a test did not declare."""
    if settings.DATABASE_REPLICA_URL and not request.node.get_closest_marker("replica"):
        monkeypatch.setattr(settings, "DATABASE_REPLICA_URL", None)


@pytest.fixture
def roles(db):
    from django.contrib.auth.models import Group

    from core.roles import roles_sync

    roles_sync()
    return {group.name: group for group in Group.objects.all()}


def _user_with_role(username: str, role: str | None, roles):
    from django.contrib.auth.models import User

    user = User.objects.create_user(username=username, password="correct horse battery", is_staff=role == "admin")
    if role:
        user.groups.add(roles[role])
    return user


@pytest.fixture
def viewer_user(roles):
    return _user_with_role("pm-paula", "viewer", roles)


@pytest.fixture
def support_user(roles):
    return _user_with_role("support-sam", "support", roles)


@pytest.fixture
def admin_user_role(roles):
    return _user_with_role("admin-ada", "admin", roles)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_api_key(db):
    from core.services import api_key_create

    def make(*, scopes: list[str], device_uid: str = "", name: str = "test key"):
        return api_key_create(name=name, scopes=scopes, device_uid=device_uid)

    return make


@pytest.fixture
def read_client(make_api_key):
    from rest_framework.test import APIClient

    _, raw_key = make_api_key(scopes=["read"], name="reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


@pytest.fixture
def ingest_key(make_api_key):
    return make_api_key(scopes=["ingest"], name="fleet ingest")


def database_url_for_test_db() -> str:
    """The URL of the database the tests run on, for subprocesses (worker, gunicorn) to share it."""
    conf = connection.settings_dict
    user = conf.get("USER") or "postgres"
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


@pytest.fixture
def celery_worker_process(request, django_db_setup, django_db_blocker):
    """A real `celery worker` process on Redis and the test database. Use with django_db(transaction=True)."""
    celery_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with django_db_blocker.unblock():
        db_url = database_url_for_test_db()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CELERY_TASK_DEFAULT_QUEUE": celery_queue,
        "DJANGO_SETTINGS_MODULE": "edgeportal.settings",
    }
    log_path = ROOT / "test-artifacts" / f"celery-worker-{celery_queue}.log"
    log_path.parent.mkdir(exist_ok=True)
    log = open(log_path, "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "edgeportal",
            "worker",
            "-Q",
            celery_queue,
            "-c",
            "1",
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"celery worker exited early; see {log_path}")
        if "ready." in log_path.read_text():
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"celery worker did not become ready in 30 s; see {log_path}")
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def retention_unbounded(settings):
    """For tests that pin calendar dates: raw retention must not turn their hours 'too old' as the real date moves on.

    (Rollups skip hours older than RAW_RETENTION_DAYS before now; tests of that rule set their own value.)
    """
    settings.RAW_RETENTION_DAYS = 36_500
