import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from benchmarks.models import BenchmarkRun
from core.roles import user_role
from telemetry.models import HourlyRollup, InferenceSession

# The simulator posts through a local HTTP server thread: it must see (and may write beside) committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_demo_creates_one_user_per_role_with_the_printed_passwords(capsys):
    call_command("seed_demo", "--small")
    out = capsys.readouterr().out
    printed = dict(re.findall(r"user '(\w+)'\s+role \w+\s+password (\S+)", out))
    assert set(printed) == {"admin", "support", "pm"}
    # authenticate() as a login page calls it: with the request (django-axes counts failures per request).
    login = RequestFactory().post("/accounts/login/")
    roles = {name: user_role(authenticate(login, username=name, password=pw)) for name, pw in printed.items()}
    assert roles == {"admin": "admin", "support": "support", "pm": "viewer"}
    # The fleet went through the HTTP ingest path and was rolled up; the lab history is there too.
    assert InferenceSession.objects.count() > 500
    assert HourlyRollup.objects.exists()
    assert BenchmarkRun.objects.exists()
    # Each step says what it is doing, with a progress bar that reaches its end.
    assert re.findall(r"== step (\d)/4", out) == ["1", "2", "3", "4"]
    # The rollout simulation (~40 s) runs at SIZE=full only, and says so.
    assert "skipped at SIZE=small" in out and "simulate_rollout" in out
    for label in ("devices posting", "rollups", "nightly lab runs", "regression detection"):
        assert re.search(rf"{label} +\[#{{30}}\] 100%", out), label
