"""Multi-node rehearsal: haproxy, two web nodes, two Celery workers, a primary and its streaming replica, faults.

    .venv/bin/python perf/scale_rehearsal.py [--duration 120] [--phase-seconds 20] [--clients 4] [--web-workers 1]

Loopback only, on throwaway services (perf/stack.py; the PostgreSQL on 5432 and Redis on 6379 are never touched):
a private PostgreSQL primary and a hot standby of it (pg_basebackup -R), a private Redis, two gunicorn nodes
(--web-workers sync workers each, DATABASE_REPLICA_URL set) behind haproxy (round robin, health checks on /readyz),
and two Celery workers on the same queue. --clients device processes post --batch-event batches through the SDK
(edgeportal_client, with its retries) to haproxy for the whole run, in three phases:
  1. one web node   node2 in maintenance on haproxy for --phase-seconds: accepted events/s
  2. two web nodes  both in rotation for --phase-seconds: accepted events/s, and the ratio to phase 1
  3. faults         --duration seconds: SIGKILL of web node 1 (master and workers) and a restart; SIGKILL of
                    Celery worker 1 (its process group) and a restart; pg_ctl restart -m fast of the primary
Then the devices flush dry, the queue drains, the workers stop, the rollup sweep runs once as beat would, and it
prints events sent / acknowledged / stored / lost / duplicated, rollups against raw counts, both throughputs, the
replica lag seen, and a last line `REHEARSAL_JSON {...}`. Exits 1 unless nothing is lost or duplicated, there is
no 500, rollups = raw, both nodes served, and the killed node, worker and primary came back; --timeout bounds the
whole run, and every process and the temp dir are removed on exit (also on Ctrl-C, SIGTERM or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perf.chaos import ROLLUP_SWEEP, SEED, database_counts  # noqa: E402
from perf.rehearsal_checks import LAG_SQL, lag_summary, merge_ledgers, verdict, worker_stats  # noqa: E402
from perf.rehearsal_load import device_load  # noqa: E402
from perf.stack import (  # noqa: E402
    HAPROXY,
    CeleryWorker,
    Haproxy,
    Postgres,
    RedisServer,
    WebNode,
    cpu_seconds,
    manage,
    pg_bindir,
    service_env,
    wait_for,
)

# Load kept up at least this long after the primary restart (the 503s ask for 5 s), even past --duration.
AFTER_PRIMARY_RESTART_S = 10


class Rehearsal:
    """The services, the device processes and what was seen; stop() tears everything down whatever state it is in."""

    def __init__(self, args, workdir: Path, log) -> None:
        self.args, self.workdir, self.log = args, workdir, log
        self.primary, self.replica = Postgres(workdir, log), Postgres(workdir, log, name="replica")
        self.redis = RedisServer(log)
        self.queue = f"rehearsal-{uuid.uuid4().hex[:8]}"
        self.env = service_env(db_url=self.primary.url(), redis_url=self.redis.url, queue=self.queue,
                               DATABASE_REPLICA_URL=self.replica.url())  # fmt: skip
        self.nodes = {f"node{i}": WebNode(self.env, log, workers=args.web_workers) for i in (1, 2)}
        self.workers = {f"worker{i}": CeleryWorker(self.env, log, queue=self.queue, name=f"worker{i}") for i in (1, 2)}
        self.haproxy = Haproxy(workdir, log, self.nodes)
        self.devices: list[multiprocessing.Process] = []
        self.context = multiprocessing.get_context("spawn")  # the parent has threads: no fork
        self.accepted = self.context.Value("q", 0)
        self.stop_load = self.context.Event()
        self.started = time.monotonic()
        self.events: list[tuple[float, str]] = []
        self.lag: list[tuple[float, float, int]] = []  # (seconds on the timeline, lag seconds, WAL bytes behind)
        self.load_stopped_at = float("inf")
        self.readyz_replica: dict[str, int] = {}
        self.monitoring = threading.Event()

    def note(self, text: str) -> None:
        at = time.monotonic() - self.started
        self.events.append((at, text))
        print(f"[{at:6.1f} s] {text}", flush=True)

    def start(self) -> str:
        self.primary.start()
        self.redis.start()
        manage(self.env | {"DATABASE_REPLICA_URL": ""}, "migrate", "-v", "0")
        raw_key = manage(self.env, "shell", "-c", SEED).split()[-1]
        self.replica.start_standby_of(self.primary)
        for node in self.nodes.values():
            node.start(wait=False)
        for node in self.nodes.values():
            wait_for(lambda node=node: node.running() and node.worker_pids(), seconds=45, what="gunicorn")
        self.haproxy.start()
        for worker in self.workers.values():
            worker.start()
        names = [worker.name for worker in self.workers.values()]
        wait_for(lambda: len(worker_stats(self.env, names)) == 2, seconds=90, what="celery workers")
        self.note(f"stack up: haproxy {self.haproxy.url}, nodes {[n.port for n in self.nodes.values()]}, "
                  f"primary {self.primary.port}, replica {self.replica.port}")  # fmt: skip
        return raw_key

    def start_devices(self, raw_key: str) -> None:
        for slot in range(self.args.clients):
            kwargs = dict(slot=slot, base_url=self.haproxy.url, api_key=raw_key, batch=self.args.batch,
                          stop=self.stop_load, accepted_counter=self.accepted,
                          ledger_path=str(self.workdir / f"ledger-{slot}.json"))  # fmt: skip
            process = self.context.Process(target=device_load, kwargs=kwargs, daemon=True)
            process.start()
            self.devices.append(process)

    def served(self) -> dict[str, int]:
        return {name: int(row["stot"]) for name, row in self.haproxy.servers().items()}

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each part of the stack (where the machine's cores go in a phase)."""
        groups = {name: [node.process.pid] for name, node in self.nodes.items()}
        groups |= {"primary": [self.primary.pid()], "replica": [self.replica.pid()], "haproxy": [self.haproxy.process.pid],
                   "celery": [worker.process.pid for worker in self.workers.values()],
                   "devices": [process.pid for process in self.devices]}  # fmt: skip
        return {name: cpu_seconds(pids) for name, pids in groups.items()}

    def throughput_phase(self, label: str) -> dict:
        time.sleep(2)  # the rotation change settles and connections spread before measuring
        before, served_before, cpu_before, begun = self.accepted.value, self.served(), self.cpu(), time.monotonic()
        time.sleep(self.args.phase_seconds)
        elapsed, served_after, cpu_after = time.monotonic() - begun, self.served(), self.cpu()
        accepted = self.accepted.value - before
        rate = accepted / elapsed
        requests_by_node = {name: served_after[name] - served_before[name] for name in served_after}
        cores = {name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in cpu_after}
        web_cpu = sum(cpu_after[name] - cpu_before[name] for name in self.nodes)
        database_cpu = cpu_after["primary"] - cpu_before["primary"]
        self.note(f"{label}: {rate:,.0f} accepted events/s over {elapsed:.1f} s, requests by node {requests_by_node}, "
                  f"cores busy {cores}, load average {Path('/proc/loadavg').read_text().split()[0]}")  # fmt: skip
        return {"events_per_s": round(rate), "requests_by_node": requests_by_node, "cores_busy": cores,
                "web_cpu_us_per_event": round(web_cpu / max(1, accepted) * 1e6, 1),
                "primary_cpu_us_per_event": round(database_cpu / max(1, accepted) * 1e6, 1),
                "load_average": float(Path("/proc/loadavg").read_text().split()[0])}  # fmt: skip

    def monitor(self) -> None:
        """Every 0.5 s: the standby's replay lag (seconds and WAL bytes), and /readyz's replica status via haproxy."""
        session = requests.Session()
        while not self.monitoring.wait(0.5):
            with contextlib.suppress(Exception):  # the primary restart makes probes fail: a gap, not a figure
                with psycopg.connect(self.primary.url(), connect_timeout=2, autocommit=True) as primary:
                    lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                with psycopg.connect(self.replica.url(), connect_timeout=2, autocommit=True) as replica:
                    seconds, behind = replica.execute(LAG_SQL, (lsn,)).fetchone()
                self.lag.append((time.monotonic() - self.started, float(seconds), max(0, int(behind))))
            with contextlib.suppress(Exception):
                state = session.get(f"{self.haproxy.url}/readyz", timeout=2).json()["replica"]["status"]
                self.readyz_replica[state] = self.readyz_replica.get(state, 0) + 1

    def faults(self) -> dict:
        """The three faults in order during the load, each logged, and whether each piece came back."""
        duration, begun, seen = self.args.duration, time.monotonic(), {}

        def at(fraction: float) -> None:
            time.sleep(max(0.0, begun + duration * fraction - time.monotonic()))

        node, name = self.nodes["node1"], "node1"
        at(0.15)
        node.kill()
        killed, node2_at_kill = time.monotonic(), self.served()["node2"]
        self.note("SIGKILL web node1 (gunicorn master and workers)")
        wait_for(lambda: self.haproxy.servers()[name]["status"].startswith("DOWN"), seconds=15, what="node1 down")
        seen["node_marked_down_s"] = round(time.monotonic() - killed, 1)
        self.note(f"haproxy marked node1 DOWN after {seen['node_marked_down_s']} s")
        time.sleep(3)
        node.start()
        wait_for(lambda: self.haproxy.servers()[name]["status"] == "UP", seconds=20, what="node1 up")
        served = self.served()
        seen["node1_served_at_restart"], seen["node2_served_while_node1_down"] = (
            served[name],
            served["node2"] - node2_at_kill,
        )
        self.note("web node1 started again, UP on haproxy")
        at(0.4)
        self.workers["worker1"].kill()
        self.note("SIGKILL celery worker1 (process group)")
        time.sleep(3)
        self.workers["worker1"].start()
        seen["worker1_pid"] = self.workers["worker1"].process.pid
        self.note("celery worker1 started again")
        at(0.65)
        self.note("pg_ctl restart -m fast of the primary: begin")
        self.primary.restart()
        seen["accepted_at_primary_restart"] = self.accepted.value
        self.note("pg_ctl restart -m fast of the primary: done")
        restarted = time.monotonic()
        at(1.0)
        time.sleep(max(0.0, restarted + AFTER_PRIMARY_RESTART_S - time.monotonic()))  # a slow machine came late here
        return seen

    def supervise(self) -> None:
        """A worker or node that exited by itself is started again, as a supervisor would, and logged as a finding."""
        for name, piece in [*self.workers.items(), *self.nodes.items()]:
            if piece.process is not None and not piece.running():
                self.note(f"FINDING: {name} exited by itself (rc {piece.process.returncode}); started again")
                piece.start()

    def drain(self) -> dict:
        self.stop_load.set()
        self.load_stopped_at = time.monotonic() - self.started
        for process in self.devices:
            process.join(timeout=90)
        self.supervise()
        self.note("load stopped, devices flushed dry")
        broker = redis.Redis.from_url(self.redis.url)
        with contextlib.suppress(SystemExit):
            wait_for(lambda: broker.llen(self.queue) == 0, seconds=60, what="celery queue drained")
        stats = worker_stats(self.env, [worker.name for worker in self.workers.values()])
        for worker in self.workers.values():
            worker.stop(seconds=30)
        swept = manage(self.env, "shell", "-c", ROLLUP_SWEEP).split()[-1]
        self.note(f"queue drained, workers stopped, rollup sweep: {swept} hours")
        return stats

    def replica_caught_up(self) -> dict:
        """The standby replays up to the primary's last WAL position and then holds the same raw rows."""
        with psycopg.connect(self.primary.url(), autocommit=True) as primary:
            lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            rows = primary.execute("SELECT count(*) FROM telemetry_inferencesession").fetchone()[0]
        with psycopg.connect(self.replica.url(), autocommit=True) as replica:
            waited = time.monotonic()
            wait_for(lambda: replica.execute(LAG_SQL, (lsn,)).fetchone()[1] <= 0, seconds=60, what="replica replay")
            replica_rows = replica.execute("SELECT count(*) FROM telemetry_inferencesession").fetchone()[0]
        return {
            "caught_up_in_s": round(time.monotonic() - waited, 2),
            "rows_primary": rows,
            "rows_replica": replica_rows,
        }

    def stop(self) -> None:
        self.monitoring.set()
        self.stop_load.set()
        for process in self.devices:
            with contextlib.suppress(Exception):
                process.join(timeout=1)
                if process.is_alive():
                    process.kill()
        pieces = [self.haproxy, *self.workers.values(), *self.nodes.values(), self.redis, self.replica, self.primary]
        for piece in pieces:
            try:
                piece.kill() if hasattr(piece, "kill") else piece.stop()
            except Exception as error:  # cleanup goes on whatever one step did
                print(f"rehearsal: cleanup of {type(piece).__name__} failed: {error}", file=sys.stderr)


def run(args, rehearsal: Rehearsal) -> bool:
    raw_key = rehearsal.start()
    monitor = threading.Thread(target=rehearsal.monitor, daemon=True)
    monitor.start()
    rehearsal.start_devices(raw_key)
    rehearsal.haproxy.set_state("node2", "maint")
    one = rehearsal.throughput_phase("phase 1, one web node")
    rehearsal.haproxy.set_state("node2", "ready")
    two = rehearsal.throughput_phase("phase 2, two web nodes")
    rehearsal.note(f"phase 3, faults, {args.duration:.0f} s")
    fault_view = rehearsal.faults()
    fault_view["node1_served_after_restart"] = rehearsal.served()["node1"] - fault_view.pop("node1_served_at_restart")
    stats = rehearsal.drain()
    # the devices' flush after the load counts too: they back off on the restart's 503 Retry-After
    fault_view["accepted_after_primary_restart"] = rehearsal.accepted.value - fault_view.pop(
        "accepted_at_primary_restart"
    )
    rehearsal.monitoring.set()
    monitor.join(timeout=5)
    counts = database_counts(rehearsal.primary.url())
    replica = rehearsal.replica_caught_up()
    ledger = merge_ledgers(sorted(rehearsal.workdir.glob("ledger-*.json")), expected=args.clients)
    figures = {
        "one_node": one,
        "two_nodes": two,
        "two_over_one": round(two["events_per_s"] / max(1, one["events_per_s"]), 2),
        "faults": fault_view,
        "workers": stats,
        "replica": {
            **replica,
            **lag_summary(rehearsal.lag, load_stopped_at=rehearsal.load_stopped_at),
            "readyz_replica_status": rehearsal.readyz_replica,
        },  # fmt: skip
        "setup": {
            "clients": args.clients,
            "batch": args.batch,
            "web_workers_per_node": args.web_workers,
            "phase_seconds": args.phase_seconds,
            "duration_s": args.duration,
        },  # fmt: skip
    }
    return verdict(ledger, counts, figures, rehearsal.events, wall_s=time.monotonic() - rehearsal.started)


def interrupted(signum, frame) -> None:
    """SIGTERM (a CI timeout) and the --timeout alarm clean up as Ctrl-C does."""
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120, help="seconds of the fault phase")
    parser.add_argument("--phase-seconds", type=float, default=20, help="seconds of each throughput phase")
    parser.add_argument("--clients", type=int, default=4, help="device processes")
    parser.add_argument("--batch", type=int, default=500, help="events per batch (at most 1,000, API.md)")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn sync workers per web node")
    parser.add_argument("--timeout", type=float, default=0, help="hard limit of the whole run (default: derived)")
    args = parser.parse_args()
    if not (1 <= args.batch <= 1000 and args.clients >= 1 and args.duration >= 10 and args.phase_seconds >= 1):
        parser.error("need 1 <= --batch <= 1000, --clients >= 1, --duration >= 10, --phase-seconds >= 1")
    missing = [name for name, found in (("PostgreSQL server binaries", pg_bindir()),
               ("redis-server", shutil.which("redis-server")), ("haproxy", Path(HAPROXY).exists())) if not found]  # fmt: skip
    if missing:
        print(f"rehearsal: needs {', '.join(missing)} (apt-get install -y haproxy)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="edgeportal-rehearsal-"))
    log = open(workdir.parent / f"{workdir.name}.log", "w")
    rehearsal = Rehearsal(args, workdir, log)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGALRM, interrupted)
    signal.alarm(int(args.timeout or (args.duration + 2 * args.phase_seconds + 300)))
    passed = False
    try:
        passed = run(args, rehearsal)
        return 0 if passed else 1
    finally:
        signal.alarm(0)
        rehearsal.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        log.close()
        if passed:  # the services' logs are kept only when there is something to look into
            Path(log.name).unlink(missing_ok=True)
        else:
            print(f"rehearsal: service logs in {log.name}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
