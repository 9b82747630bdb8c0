"""The throwaway services of perf/chaos.py: a private PostgreSQL cluster and Redis, gunicorn and a Celery worker.

Every port is a free loopback port and every file lives in one temp dir, so the PostgreSQL on 5432 and the Redis on
6379 that other suites use are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: go through runuser then (as scripts/replica.sh does)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def pg_bindir() -> Path | None:
    if os.environ.get("PGBIN"):
        return Path(os.environ["PGBIN"])
    for major in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True):
        if (major / "bin" / "initdb").exists():
            return major / "bin"
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def wait_for(check, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise SystemExit(f"chaos: {what} not ready after {seconds:.0f} s")


class Stack:
    """The throwaway services and the processes under test; stop() is safe to call at any point."""

    def __init__(self, workdir: Path, log) -> None:
        self.workdir, self.log = workdir, log
        self.pgbin = pg_bindir()
        self.pgdata = workdir / "pgdata"
        self.pg_port, self.redis_port, self.web_port = free_port(), free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.db_url = f"postgres://postgres@127.0.0.1:{self.pg_port}/edgeportal"
        self.queue = f"chaos-{uuid.uuid4().hex[:8]}"
        self.redis_process = self.web = self.worker = None
        self.pg_started = False
        self.env = {**os.environ, "DATABASE_URL": self.db_url, "SECRET_KEY": "chaos-" + "x" * 60, "DEBUG": "0",
                    "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "STATIC_MANIFEST": "0",
                    "LOG_LEVEL": "WARNING", "INGEST_RATE": "1000000/min", "CELERY_BROKER_URL": self.redis_url,
                    "REDIS_URL": self.redis_url, "CELERY_TASK_DEFAULT_QUEUE": self.queue, "DB_CONN_MAX_AGE": "600",
                    "DJANGO_SETTINGS_MODULE": "edgeportal.settings"}  # fmt: skip
        self.env.pop("DATABASE_REPLICA_URL", None)

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(as_postgres([str(self.pgbin / "pg_ctl"), "-D", str(self.pgdata), *args]), check=True,
                       stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip

    def start_postgres(self) -> None:
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.pgdata, "postgres")
        subprocess.run(as_postgres([str(self.pgbin / "initdb"), "-D", str(self.pgdata), "-A", "trust", "-U",
                                    "postgres", "-N"]), check=True, stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        # fsync off: the restart below is a clean (fast) shutdown with a checkpoint; no power cut is simulated
        options = f"-p {self.pg_port} -k {self.pgdata} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.pgdata / "server.log"), "-w", "start")
        self.pg_started = True
        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE edgeportal")

    def restart_postgres(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "restart")

    def start_redis(self) -> None:
        self.redis_process = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                               "--save", "", "--appendonly", "no"], stdout=self.log,
                                              stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(lambda: redis.Redis.from_url(self.redis_url).ping(), seconds=10, what="redis")

    def stop_redis(self) -> None:
        if self.redis_process and self.redis_process.poll() is None:
            self.redis_process.kill()
            self.redis_process.wait(timeout=10)

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=self.env, cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout  # fmt: skip

    def start_web(self) -> None:
        self.web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "edgeportal.wsgi:application", "-w", "2", "-b",
                                     f"127.0.0.1:{self.web_port}", "--timeout", "60"], env=self.env, cwd=ROOT,
                                    stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        url = f"http://127.0.0.1:{self.web_port}/healthz"
        wait_for(lambda: requests.get(url, timeout=2).status_code == 200, seconds=30, what="gunicorn")

    def web_workers(self) -> list[int]:
        children = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def busy_web_worker(self, *, seconds: float = 2) -> tuple[int, bool]:
        """A worker caught running (mid-request, most likely), or the first one if none is seen within `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for pid in self.web_workers():
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "R":
                        return pid, True
            time.sleep(0.005)
        return self.web_workers()[0], False

    def start_worker(self) -> None:
        self.worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "edgeportal", "worker", "-Q", self.queue,
                                        "-c", "1", "--pool", "prefork", "--without-gossip", "--without-mingle",
                                        "--loglevel", "WARNING"], env=self.env, cwd=ROOT, stdout=self.log,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def kill_worker(self) -> None:
        """SIGKILL of the worker and its pool child (its own process group), as an OOM kill or a lost node."""
        if self.worker and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=10)

    def stop_worker(self) -> None:
        """Warm shutdown: the task in hand finishes first."""
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_worker()

    def stop(self) -> None:
        for step in (self.kill_worker, self._stop_web, self.stop_redis, self._stop_postgres):
            try:
                step()
            except Exception as error:  # cleanup goes on whatever one step did
                print(f"chaos: cleanup step {step.__name__} failed: {error}", file=sys.stderr)

    def _stop_web(self) -> None:
        if self.web and self.web.poll() is None:
            self.web.terminate()
            try:
                self.web.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.web.kill()

    def _stop_postgres(self) -> None:
        if self.pg_started:
            self._pg_ctl("-m", "immediate", "-w", "stop")
            self.pg_started = False
