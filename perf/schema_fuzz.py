"""Schema fuzzing of the whole API with schemathesis, as every kind of caller, on a throwaway seeded database.

    .venv/bin/python perf/schema_fuzz.py [--max-examples 8] [--server postgres://postgres@127.0.0.1:5432]
                                         [--st .venv-fuzz/bin/st] [--seed 2027]

Seeds the small demo into a fresh PostgreSQL database, starts gunicorn with production settings (DEBUG off, the
error pages a client really gets), and runs `st run` against `/api/schema/` once per caller: a `read` key, an
`ingest` key, a `benchmarks:write` key, a `rollouts:write` key and an admin's session (with its CSRF token, so
writes get past CSRF to the validation they are meant to test). Checks: no 5xx, every status and content type the
schema documents, every response body valid against its schema. Prints the totals per caller and exits non-zero on
any failure (each failing caller's report is kept in perf/schema_fuzz_<caller>.txt, the server's log in
perf/schema_fuzz_server.log). schemathesis lives in its own virtualenv (`scripts/fuzz_venv.sh`, pinned in
requirements-fuzz.txt) so its dependencies never move the project's.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
FAILURE = re.compile(r"(ST\d{3}) ([^:\n]+): (\d+)")
CASES = re.compile(r"(\d+) generated")
TESTED = re.compile(r"Tested: (\d+)")
# Creates the keys and the admin session, printing "name value" lines (raw keys are shown once).
CREDENTIALS = """
import time
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from core.roles import ADMIN, roles_sync
from core.services import api_key_create
from edgeportal.middleware import SESSION_SEEN_KEY, SESSION_STARTED_KEY
for scope in ("read", "ingest", "benchmarks:write", "rollouts:write"):
    print(scope, api_key_create(name=f"fuzz {scope}", scopes=[scope])[1])
roles_sync()
from django.contrib.auth.models import Group
user = get_user_model().objects.create_user("fuzz-admin", password=None, is_staff=True)
user.groups.add(Group.objects.get(name=ADMIN))
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session[SESSION_STARTED_KEY] = session[SESSION_SEEN_KEY] = int(time.time())
session.save()
print("session", session.session_key)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fuzz(*, st: str, base: str, name: str, headers: list[str], args) -> dict:
    command = [st, "run", f"{base}/api/schema/", "--checks", CHECKS, "--max-examples", str(args.max_examples),
               "--seed", str(args.seed), "--request-timeout", "30", "--no-color"]  # fmt: skip
    for header in headers:
        command += ["-H", header]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    summary = done.stdout[done.stdout.rfind("SUMMARY") :]
    failures = {code: int(count) for code, _, count in FAILURE.findall(summary)}
    cases, tested = CASES.search(summary), TESTED.search(summary)
    if cases is None or tested is None:  # never a silent pass: an unreadable summary is a failure
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
        failures["unreadable"] = 1
    if failures:
        (ROOT / "perf" / f"schema_fuzz_{name.replace(':', '_')}.txt").write_text(done.stdout)
    return {
        "caller": name,
        "operations": int(tested.group(1)) if tested else 0,
        "cases": int(cases.group(1)) if cases else 0,
        "failures": failures,
        "seconds": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--st", default=str(ROOT / ".venv-fuzz" / "bin" / "st"))
    parser.add_argument("--max-examples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--callers", help="comma-separated subset of read,ingest,benchmarks:write,rollouts:write,admin")
    args = parser.parse_args()
    db_name = f"ep_schema_fuzz_{os.getpid()}"
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"{args.server.rstrip('/')}/{db_name}", "DEBUG": "0",
           "SECRET_KEY": "fuzz-" + secrets.token_urlsafe(48), "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0",
           "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "SECURE_HSTS_SECONDS": "0", "STATIC_MANIFEST": "0",
           "LOG_LEVEL": "ERROR", "CELERY_BROKER_URL": "", "REDIS_URL": ""}  # fmt: skip
    with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    web = None
    try:
        manage = [sys.executable, str(ROOT / "manage.py")]
        print("== migrate and seed the small demo", flush=True)
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([*manage, "seed_demo", "--size", "small"], env=env, cwd=ROOT, check=True, capture_output=True)
        printed = subprocess.run([*manage, "shell", "-c", CREDENTIALS], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout  # fmt: skip
        values = dict(line.split(" ", 1) for line in printed.strip().splitlines()[-5:])
        web_log = open(ROOT / "perf" / "schema_fuzz_server.log", "w")  # noqa: SIM115 -- closed with the server
        web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "edgeportal.wsgi:application", "-w", "2", "-b",
                                f"127.0.0.1:{port}", "--timeout", "60"], env=env, cwd=ROOT, stdout=web_log,
                               stderr=subprocess.STDOUT)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.2)
        csrf = secrets.token_hex(16)
        callers = {scope: [f"Authorization: Bearer {values[scope]}"] for scope in ("read", "ingest", "benchmarks:write",
                                                                                    "rollouts:write")}  # fmt: skip
        callers["admin"] = [f"Cookie: sessionid={values['session']}; csrftoken={csrf}", f"X-CSRFToken: {csrf}"]
        if args.callers:
            callers = {name: callers[name] for name in args.callers.split(",")}
        results = []
        for name, headers in callers.items():
            print(f"== fuzzing as {name}", flush=True)
            results.append(_fuzz(st=args.st, base=base, name=name, headers=headers, args=args))
    finally:
        if web is not None:
            web.terminate()
            web.wait(timeout=30)
            web_log.close()
        with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    _print(results, args)


def _print(results: list[dict], args) -> None:
    print(f"\nschemathesis {CHECKS.replace(',', ', ')}; --max-examples {args.max_examples} --seed {args.seed}")
    print("| caller | operations | test cases | 5xx (ST101) | schema violations (ST108) | other failures | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        other = {k: v for k, v in r["failures"].items() if k not in ("ST101", "ST108")}
        print(f"| {r['caller']} | {r['operations']} | {r['cases']:,} | {r['failures'].get('ST101', 0)} | "
              f"{r['failures'].get('ST108', 0)} | {other or 0} | {r['seconds']:.0f} |")  # fmt: skip
    total = sum(r["cases"] for r in results)
    failed = [r["caller"] for r in results if r["failures"]]
    print(f"\n{total:,} test cases in all; " + (f"FAILED for {', '.join(failed)}" if failed else "0 failures"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
