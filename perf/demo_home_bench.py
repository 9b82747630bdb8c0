"""The embedded demo's home page on SQLite against a logged-in `GET /api/v1/me/`, measured in the same run.

Seeds a throwaway SQLite database exactly as `make demo` does (`seed_demo --size standard`: the rollups run in
process, the trailing windows with them), then renders `/` and `/api/v1/me/` as the demo's `pm` user and prints
each median and the ratio. Nothing outside the temporary directory is touched.

    .venv/bin/python perf/demo_home_bench.py [--size small|standard] [--repeat 7]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--size", default="standard", choices=["small", "standard", "full"])
parser.add_argument("--repeat", type=int, default=7)
args = parser.parse_args()
workdir = tempfile.mkdtemp(prefix="demo-home-bench-")
# The demo's environment (scripts/demo.sh): SQLite, tasks in process, no cache server, DEBUG on.
os.environ.update(
    DATABASE_URL=f"sqlite:///{workdir}/db.sqlite3", DEBUG="1", DJANGO_SETTINGS_MODULE="edgeportal.settings"
)
for name in ("CELERY_BROKER_URL", "REDIS_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402


def measure(client: Client, url: str, repeat: int) -> float:
    client.get(url)  # warm templates and caches
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        reset_queries()  # DEBUG keeps every query: do not let the list grow across renders
    return statistics.median(timings)


def main() -> None:
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("seed_demo", size=args.size, verbosity=0)
    print(f"seeded the {args.size} demo on {connection.vendor} in {time.perf_counter() - started:.0f} s ({workdir})")
    client = Client()
    client.force_login(User.objects.get(username="pm"))
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        trivial = measure(client, "/api/v1/me/", args.repeat)
        home = measure(client, "/", args.repeat)
    print(f"  api me  median {trivial:7.1f} ms")
    print(f"  home    median {home:7.1f} ms  {home / trivial:5.1f}x api me")


if __name__ == "__main__":
    main()
