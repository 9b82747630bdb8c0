"""The embedded demo's home page on SQLite against a logged-in `GET /api/v1/me/`, measured in the same run.

Seeds a throwaway SQLite database exactly as `make demo` does (`seed_demo --size standard`: the rollups run in
process, the trailing windows with them), then renders `/` and `/api/v1/me/` as the demo's `pm` user and prints
each median and the ratio (renders interleaved, wall and process CPU time: SQLite runs in process). Nothing outside
the temporary directory is touched; `--db FILE` keeps the seeded file for another run, `--profile` profiles five renders.

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
parser.add_argument("--repeat", type=int, default=15)
parser.add_argument("--profile", action="store_true", help="also profile five home renders (cProfile, queries)")
parser.add_argument("--db", default="", help="an SQLite file a previous run seeded (kept, not re-seeded)")
args = parser.parse_args()
workdir = tempfile.mkdtemp(prefix="demo-home-bench-")
db_path = args.db or f"{workdir}/db.sqlite3"
# The demo's environment (scripts/demo.sh): SQLite, tasks in process, no cache server, DEBUG on.
os.environ.update(DATABASE_URL=f"sqlite:///{db_path}", DEBUG="1", DJANGO_SETTINGS_MODULE="edgeportal.settings")
for name in ("CELERY_BROKER_URL", "REDIS_URL"):
    os.environ.pop(name, None)

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402


def measure(client: Client, urls: dict[str, str], repeat: int) -> dict[str, tuple[float, float]]:
    """(median wall ms, median process CPU ms) per page, renders interleaved so a load swing on the shared cores hits
    every page alike (SQLite runs in this process: its CPU time is the whole request's)."""
    for url in urls.values():
        client.get(url)  # warm templates and caches
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
    for _ in range(repeat):
        for name, url in urls.items():
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings[name].append(((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000))
            assert response.status_code == 200, (url, response.status_code)
            reset_queries()  # DEBUG keeps every query: do not let the list grow across renders
    return {
        name: tuple(statistics.median(column) for column in zip(*rows, strict=True)) for name, rows in timings.items()
    }


def profile(client: Client, url: str) -> None:
    """cProfile of five renders (cumulative, project code) and one render's query count and slowest queries."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        client.get(url)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
        r"(telemetry|core|edgeportal|compat|labfield|django/template)/", 30
    )
    print(out.getvalue()[-7000:])
    reset_queries()
    client.get(url)
    queries = sorted(connection.queries, key=lambda q: -float(q["time"]))
    print(
        f"  {len(connection.queries)} queries, {sum(float(q['time']) for q in queries) * 1000:.1f} ms in SQL; slowest:"
    )
    for q in queries[:8]:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:200]}")
    reset_queries()


def main() -> None:
    started = time.perf_counter()
    if not args.db or not Path(args.db).exists():
        call_command("migrate", verbosity=0)
        call_command("seed_demo", size=args.size, verbosity=0)
    print(f"seeded the {args.size} demo on {connection.vendor} in {time.perf_counter() - started:.0f} s ({db_path})")
    client = Client()
    client.force_login(User.objects.get(username="pm"))
    with override_settings(ALLOWED_HOSTS=["testserver"]):
        medians = measure(client, {"api me": "/api/v1/me/", "home": "/"}, args.repeat)
        if args.profile:
            profile(client, "/")
    (trivial, trivial_cpu), (home, home_cpu) = medians["api me"], medians["home"]
    print(f"  api me  median {trivial:7.1f} ms (CPU {trivial_cpu:5.1f} ms)")
    print(f"  home    median {home:7.1f} ms (CPU {home_cpu:5.1f} ms)  {home / trivial:5.1f}x api me "
          f"(CPU {home_cpu / trivial_cpu:5.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
