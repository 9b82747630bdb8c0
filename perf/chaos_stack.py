"""The throwaway services of perf/chaos.py: a private PostgreSQL cluster and Redis, gunicorn and a Celery worker.

Built from perf/stack.py's pieces (shared with perf/scale_rehearsal.py): every port is a free loopback port and every
file lives in one temp dir, so the PostgreSQL on 5432 and the Redis on 6379 that other suites use are never touched.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from pathlib import Path

from perf.stack import CeleryWorker, Postgres, RedisServer, WebNode, manage, pg_bindir, service_env, wait_for

__all__ = ["Stack", "pg_bindir", "wait_for"]


class Stack:
    """The throwaway services and the processes under test; stop() is safe to call at any point."""

    def __init__(self, workdir: Path, log) -> None:
        self.workdir, self.log = workdir, log
        self.postgres, self.redis = Postgres(workdir, log), RedisServer(log)
        self.redis_url, self.db_url = self.redis.url, self.postgres.url()
        self.queue = f"chaos-{uuid.uuid4().hex[:8]}"
        self.env = service_env(db_url=self.db_url, redis_url=self.redis_url, queue=self.queue)
        self.web_node = WebNode(self.env, log, workers=2)
        self.web_port = self.web_node.port
        self.celery = CeleryWorker(self.env, log, queue=self.queue)

    @property
    def worker(self):
        """The Celery worker's process (None before it starts), for the supervisor check."""
        return self.celery.process

    def start_postgres(self) -> None:
        self.postgres.start()

    def restart_postgres(self) -> None:
        self.postgres.restart()

    def start_redis(self) -> None:
        self.redis.start()

    def stop_redis(self) -> None:
        self.redis.stop()

    def manage(self, *args: str) -> str:
        return manage(self.env, *args)

    def start_web(self) -> None:
        self.web_node.start()

    def web_workers(self) -> list[int]:
        return self.web_node.worker_pids()

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
        self.celery.start()

    def kill_worker(self) -> None:
        """SIGKILL of the worker and its pool child (its own process group), as an OOM kill or a lost node."""
        self.celery.kill()

    def stop_worker(self) -> None:
        """Warm shutdown: the task in hand finishes first."""
        self.celery.stop(seconds=30)

    def stop(self) -> None:
        for step in (self.celery.kill, self.web_node.stop, self.redis.stop, self.postgres.stop):
            try:
                step()
            except Exception as error:  # cleanup goes on whatever one step did
                print(f"chaos: cleanup step {step.__qualname__} failed: {error}", file=sys.stderr)
