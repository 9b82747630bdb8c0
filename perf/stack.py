"""Throwaway services for the perf scripts that need a whole stack (perf/chaos.py, perf/scale_rehearsal.py).

Each piece is a private process on free loopback ports with its files in the caller's temp dir, so the PostgreSQL on
5432 and the Redis on 6379 that other suites use are never touched: a PostgreSQL cluster (initdb, or a streaming
standby of another one by pg_basebackup), redis-server, a gunicorn node, a Celery worker and haproxy. Every stop()
is safe to call at any point, also on a piece that never started.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HAPROXY = "/usr/sbin/haproxy"


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
    raise SystemExit(f"stack: {what} not ready after {seconds:.0f} s")


def http_ok(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def service_env(*, db_url: str, redis_url: str, queue: str, **extra: str) -> dict[str, str]:
    """The environment of every web node, worker and manage.py call: production settings on the private services."""
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "stack-" + "x" * 60, "DEBUG": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "STATIC_MANIFEST": "0", "LOG_LEVEL": "WARNING",
           "INGEST_RATE": "1000000/min", "CELERY_BROKER_URL": redis_url, "REDIS_URL": redis_url,
           "CELERY_TASK_DEFAULT_QUEUE": queue, "DB_CONN_MAX_AGE": "600",
           "DJANGO_SETTINGS_MODULE": "edgeportal.settings", **extra}  # fmt: skip
    if "DATABASE_REPLICA_URL" not in extra:
        env.pop("DATABASE_REPLICA_URL", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip


class Postgres:
    """A private cluster: initdb'd, or (start_standby_of) a hot standby streaming from another Postgres."""

    def __init__(self, workdir: Path, log, *, name: str = "pgdata") -> None:
        self.pgbin, self.log = pg_bindir(), log
        self.pgdata = workdir / name
        self.port = free_port()
        self.started = False

    def url(self, database: str = "edgeportal") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(as_postgres([str(self.pgbin / tool), *args]), check=True, stdout=self.log,
                       stderr=subprocess.STDOUT)  # fmt: skip

    def _prepare_dir(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.pgdata.parent, "postgres")
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, "postgres")
        os.chmod(self.pgdata, 0o700)

    def _start(self, *settings: str) -> None:
        # fsync off: every restart here is a clean (fast) shutdown with a checkpoint; no power cut is simulated
        options = " ".join([f"-p {self.port} -k {self.pgdata} -c listen_addresses=127.0.0.1 -c fsync=off", *settings])
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", options, "-l", str(self.pgdata / "server.log"), "-w", "start")
        self.started = True

    def start(self, *, database: str = "edgeportal") -> None:
        self._prepare_dir()
        self._run("initdb", "-D", str(self.pgdata), "-A", "trust", "-U", "postgres", "-N")  # trusts replication too
        self._start()
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {database}")

    def start_standby_of(self, primary: Postgres) -> None:
        """pg_basebackup -R of the primary (what scripts/replica.sh does for the shared one), as a hot standby."""
        self._prepare_dir()
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D",
                  str(self.pgdata), "-R", "-X", "stream", "-c", "fast")  # fmt: skip
        # a long read is not cancelled by the primary vacuuming rows it reads
        self._start("-c hot_standby=on -c hot_standby_feedback=on")

    def pid(self) -> int:
        """The postmaster's pid (its backends are its children)."""
        return int((self.pgdata / "postmaster.pid").read_text().split()[0])

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop")
            self.started = False


class RedisServer:
    """A private redis-server without persistence."""

    def __init__(self, log) -> None:
        self.log, self.port, self.process = log, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save",
                                         "", "--appendonly", "no"], stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for(lambda: redis.Redis.from_url(self.url).ping(), seconds=10, what="redis")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class _Group:
    """A process started in its own session, so that kill() takes its children too (as a lost host would)."""

    process: subprocess.Popen | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, *, seconds: float = 20) -> None:
        """SIGTERM (gunicorn and Celery finish the request or task in hand), then SIGKILL."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                self.kill()


class WebNode(_Group):
    """One gunicorn master with `workers` sync workers on a free port (gunicorn.conf.py is read from ROOT)."""

    def __init__(self, env: dict[str, str], log, *, workers: int = 2) -> None:
        self.env, self.log, self.workers, self.port = env, log, workers, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, *, wait: bool = True) -> None:
        self.process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "edgeportal.wsgi:application", "-w",
                                         str(self.workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "60"],
                                        env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip
        if wait:
            wait_for(lambda: http_ok(f"{self.url}/healthz"), seconds=45, what="gunicorn")

    def worker_pids(self) -> list[int]:
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


class CeleryWorker(_Group):
    """`celery worker` on one queue, concurrency 1, named so a ping can find it again after a restart."""

    def __init__(self, env: dict[str, str], log, *, queue: str, name: str = "worker") -> None:
        self.env, self.log, self.queue, self.name = env, log, queue, f"{name}@stack"

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "edgeportal", "worker", "-Q",
                                         self.queue, "-n", self.name, "-c", "1", "--pool", "prefork",
                                         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                                        env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip


class Haproxy(_Group):
    """haproxy on a free port in front of web nodes, health-checking /readyz, with an admin socket for stats."""

    CONFIG = """global
    maxconn 1024
    stats socket {socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout queue 10s
    # a connection refused by a dead node is tried again on the other one (never a request already sent)
    retries 2
    option redispatch
frontend ingest
    bind 127.0.0.1:{port}
    default_backend web
backend web
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""

    def __init__(self, workdir: Path, log, nodes: dict[str, WebNode]) -> None:
        self.log, self.nodes, self.port = log, nodes, free_port()
        self.socket, self.config = workdir / "haproxy.sock", workdir / "haproxy.cfg"
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        servers = "\n".join(f"    server {name} 127.0.0.1:{node.port} check" for name, node in self.nodes.items())
        self.config.write_text(self.CONFIG.format(socket=self.socket, port=self.port, servers=servers))
        self.process = subprocess.Popen([HAPROXY, "-f", str(self.config), "-db"], stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        wait_for(lambda: all(row["status"] == "UP" for row in self.servers().values()), seconds=30, what="haproxy")

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.settimeout(5)
            conn.connect(str(self.socket))
            conn.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """`show stat` of the backend's servers: status (UP/DOWN/MAINT), stot (requests taken), chkdown, ..."""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == "web" and row["svname"] in self.nodes}

    def set_state(self, name: str, state: str) -> None:
        """ready | maint: takes a node out of (or back into) the rotation without stopping it."""
        self.command(f"set server web/{name} state {state}")


def cpu_seconds(root_pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants alive now, from /proc (Linux)."""
    ticks, parents = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parents[pid], ticks[pid] = int(fields[1]), int(fields[11]) + int(fields[12])
    wanted, total = set(root_pids), 0
    for pid in sorted(ticks):
        ancestor = pid
        while ancestor and ancestor not in wanted:
            ancestor = parents.get(ancestor, 0)
        if ancestor:
            total += ticks[pid]
    return total / os.sysconf("SC_CLK_TCK")
