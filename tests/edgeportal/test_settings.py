"""Settings come from the environment; bad values stop startup with a clear message."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "prod-like-" + "k" * 60,
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "sqlite:////tmp/edgeportal-check.sqlite3",
    "SECURE_SSL_REDIRECT": "",
    "SESSION_COOKIE_SECURE": "",
    "CSRF_COOKIE_SECURE": "",
    "STATIC_MANIFEST": "",
    "DATABASE_REPLICA_URL": "",
}


def _manage(*args, env):
    # The test run's own relaxations (tests/testenv.py) must not leak into the production check.
    clean = {k: v for k, v in os.environ.items() if k not in PROD_ENV and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "0", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is off"),
        ({"DEBUG": "0", "SECRET_KEY": "short"}, "SECRET_KEY must be at least 50 characters"),
        ({"DEBUG": "1", "DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL is not a usable database URL"),
        ({"DEBUG": "1", "RAW_RETENTION_DAYS": "soon"}, "RAW_RETENTION_DAYS='soon' is not an integer"),
        ({"DEBUG": "1", "RAW_PARTITIONS_AHEAD_DAYS": "0"}, "RAW_PARTITIONS_AHEAD_DAYS"),
        ({"DEBUG": "1", "LAB_FIELD_GAP_RATIO": "wide"}, "LAB_FIELD_GAP_RATIO='wide' is not a number"),
        (
            {"DEBUG": "1", "LAB_FIELD_GAP_RATIO": "nan"},
            "LAB_FIELD_GAP_RATIO=nan is not a finite number of at least 1.0",
        ),
        ({"DEBUG": "1", "DATABASE_REPLICA_URL": "postgres://r@replica/portal"}, "needs a PostgreSQL DATABASE_URL"),
    ],
)
def test_bad_setting_is_a_clear_startup_error(env, message):
    result = _manage("check", env={**PROD_ENV, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_postgresql_options_from_the_url_are_kept_beside_the_prepared_statement_settings():
    env = {**PROD_ENV, "DATABASE_URL": "postgres://portal@db.example.com:5432/portal?sslmode=verify-full"}
    result = _manage("shell", "-c", "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])",
                     env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    options = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 -- the repr of a dict printed just above
    assert options == {
        "sslmode": "verify-full",
        "prepare_threshold": 0,
        "options": "-c plan_cache_mode=force_generic_plan",
    }


def test_a_replica_url_adds_the_replica_alias_mirrored_in_tests_and_nothing_without_it():
    env = {**PROD_ENV, "DATABASE_URL": "postgres://portal@db.example.com:5432/portal"}
    show = (
        "from django.conf import settings as s; r = s.DATABASES.get('replica'); "
        "print(r and {'HOST': r['HOST'], 'PORT': r['PORT'], 'OPTIONS': r['OPTIONS'], 'MIRROR': r['TEST']['MIRROR']})"
    )
    without = _manage("shell", "-c", show, env=env)
    assert without.returncode == 0, without.stderr
    assert without.stdout.strip().splitlines()[-1] == "None"
    result = _manage(
        "shell", "-c", show, env={**env, "DATABASE_REPLICA_URL": "postgres://portal@replica.example.com:5433/portal"}
    )
    assert result.returncode == 0, result.stderr
    assert eval(result.stdout.strip().splitlines()[-1]) == {  # noqa: S307 -- the repr of a dict printed just above
        "HOST": "replica.example.com",
        "PORT": 5433,
        "OPTIONS": {"connect_timeout": 2},
        "MIRROR": "default",
    }
