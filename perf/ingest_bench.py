"""Ingest end to end on the real stack against the database floor, in one run on one throwaway database.

    .venv/bin/python perf/ingest_bench.py [--workers 2] [--clients 4] [--seconds 20] [--rounds 3] [--server ...]

1. Creates a throwaway PostgreSQL database, migrates it, seeds a small catalog and an `ingest` key.
2. Starts gunicorn (W sync workers on 127.0.0.1), a Celery worker on Redis (--redis) and posts realistic
   1,000-event gzip batches (SDK-built events, unique UUIDv7 ids, ~20-bucket histograms, 10 % with raw samples,
   2 % crashes) from C client threads for a fixed time: events/s, request p50/p99, CPU split, peak RSS per worker,
   rollup lag (until no hour is left dirty and the queue is empty).
3. Stops the stack and loads the same number of rows (the stored rows, with fresh event ids) into the same table
   with its indexes from W parallel connections: COPY into a staging table + INSERT … SELECT … ON CONFLICT DO
   NOTHING into the event key table and the rows whose key was new, no HTTP, no Django. That is the floor; the
   target is end to end ≥ 70 % of it.

Raw SQL here (S608) is built from the table's own column names and fixed table names only.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeportal_client.events import crash_event, session_event, uuid7  # noqa: E402
from edgeportal_client.histogram import LatencyHistogram  # noqa: E402

VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEVICE_MODELS = ("google-pixel-8", "samsung-galaxy-s24", "xiaomi-redmi-note-13", "apple-iphone-15", "rpi-5")
SEED = """
from compat.models import *
from core.services import api_key_create
for slug in {models!r}:
    DeviceModel.objects.create(slug=slug, vendor=slug.split('-')[0], name=slug, os_family='android', tier=2)
m = MLModel.objects.create(slug='yolov8n', name='YOLOv8n')
ModelVersion.objects.create(ml_model=m, version='1.4.0')
rt = Runtime.objects.create(slug='tflite', name='TFLite')
RuntimeVersion.objects.create(runtime=rt, version='2.16.1')
Delegate.objects.create(runtime=rt, slug='gpu', name='GPU', kind='gpu')
Delegate.objects.create(runtime=rt, slug='cpu', name='XNNPACK', kind='cpu')
print(api_key_create(name='bench', scopes=['ingest'])[1])
"""


# -- processes and /proc ---------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found + [grandchild for child in found for grandchild in _children(child)]


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _machine_busy() -> float:
    """CPU-seconds the whole machine spent busy so far (every process: the stack, its clients, anything else)."""
    user, nice, system, idle, iowait, *rest = map(int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:])
    return (user + nice + system + sum(rest[:3])) / CLK_TCK  # + irq, softirq, steal


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _local_ports(pids: list[int]) -> set[int]:
    """Local TCP ports of the sockets these processes hold (to tell whose database backend is whose)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _postgres_pids(db_name: str, *, client_ports: set[int] | None = None, exclude: bool = False) -> list[int]:
    """Backends of the bench database (their command line names it), optionally only/except some clients."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not (text.startswith("postgres:") and f" {db_name} " in text):
            continue
        if client_ports is not None:
            port = int(text.split("(", 1)[1].split(")", 1)[0]) if "(" in text else -1
            if (port in client_ports) == exclude:
                continue
        pids.append(int(cmdline.parent.name))
    return pids


class CpuMeter:
    """CPU seconds per group (web / worker / database) between start() and stop().

    Samples every `interval` seconds in a thread: a process that exits meanwhile (a database backend whose client
    closed its connection: the Celery worker's, after a task) still counts up to its last sample, in the first
    group it was seen in.
    """

    def __init__(self, groups: dict[str, callable], interval: float = 1.0) -> None:
        self.groups, self.interval = groups, interval
        self.before: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pids in self.groups.items():
            for pid in pids():
                cpu = _cpu_seconds(pid)
                if cpu:  # 0.0: gone before it was read
                    self.last[pid] = (self.last.get(pid, (name, 0.0))[0], cpu)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._sample()
        self.before = {pid: cpu for pid, (_, cpu) in self.last.items()}
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        self._sample()
        spent = dict.fromkeys(self.groups, 0.0)
        for pid, (name, cpu) in self.last.items():
            spent[name] += cpu - self.before.get(pid, 0.0)
        return spent


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=10).status_code < 500:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up in {timeout} s")


# -- payloads ---------------------------------------------------------------------------------------------------


def _templates(rng: random.Random, count: int) -> tuple[list[dict], list[dict]]:
    start = datetime.now(UTC) - timedelta(minutes=30)
    identity = {"model": "yolov8n", "model_version": "1.4.0", "runtime": "tflite", "runtime_version": "2.16.1"}
    sessions = []
    for i in range(count):
        base = rng.uniform(8, 40)
        samples = [rng.lognormvariate(0, 0.08) * base for _ in range(400)]  # ~20 buckets at 1 % accuracy
        raw = [rng.lognormvariate(0, 0.08) * base for _ in range(100)] if i % 10 == 0 else None
        sessions.append(session_event(
            **identity, delegate="gpu" if i % 3 else "cpu", session_id=str(uuid.uuid4()),
            started_at=start + timedelta(seconds=rng.uniform(0, 1500)), duration_s=rng.uniform(60, 900),
            inferences=400 + len(raw or ()), errors=rng.choice((0, 0, 0, 1)),
            histogram=LatencyHistogram.from_samples(samples), latencies_ms=raw, include_raw_samples=bool(raw),
            accelerated_fraction=round(rng.uniform(0.8, 1.0), 3), fallback_ops=["RESIZE_BILINEAR"] if i % 4 else [],
            peak_rss_mb=round(rng.uniform(120, 300), 1), thermal_state="nominal",
        ))  # fmt: skip
    crashes = [
        crash_event(
            **identity,
            delegate="gpu",
            session_id=str(uuid.uuid4()),
            occurred_at=start,
            kind="native",
            signal="SIGSEGV",
            message=f"Fatal signal 11 in gpu delegate, fault addr 0x{rng.getrandbits(32):x}",
            frames=[
                {
                    "function": "tflite::gpu::cl::InferenceContext::Run",
                    "module": "libtflite_gpu.so",
                    "offset": "0x1a2b40",
                    "in_app": False,
                },
                {
                    "function": f"com.acme.Detector.stage{i % 4}",
                    "module": "libacme.so",
                    "offset": "0x44",
                    "in_app": True,
                },
            ],
        )  # fmt: skip
        for i in range(count // 10)
    ]
    return sessions, crashes


def batches_build(*, count: int, size: int, crash_share: float, devices: int, seed: int = 7) -> list[bytes]:
    """gzip bodies of `count` batches, every event with a fresh UUIDv7 (and session id)."""
    rng = random.Random(seed)
    sessions, crashes = _templates(rng, 300)
    encode = msgspec.json.Encoder().encode
    bodies = []
    n_crashes = round(size * crash_share)
    for number in range(count):
        events = []
        for template in rng.choices(sessions, k=size - n_crashes):
            events.append({**template, "event_id": str(uuid7()), "session_id": str(uuid7())})
        for template in rng.choices(crashes, k=n_crashes):
            session_id = events[rng.randrange(len(events))]["session_id"]  # crashes of sessions in the batch
            events.append({**template, "event_id": str(uuid7()), "session_id": session_id})
        uid = f"bench-{number % devices:05d}"
        body = {
            "device": {"uid": uid, "model": DEVICE_MODELS[number % len(DEVICE_MODELS)], "os_version": "Android 15",
                       "app_version": "3.2.1", "firmware": "AP4A"},
            "sent_at": datetime.now(UTC).isoformat(),
            "events": events,
        }  # fmt: skip
        bodies.append(gzip.compress(encode(body), compresslevel=6))
    return bodies


# -- phases -----------------------------------------------------------------------------------------------------


def http_phase(*, url: str, key: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    lock, queue = threading.Lock(), iter(bodies)
    latencies, statuses, totals = [], {}, {"accepted": 0, "duplicates": 0, "rejected": 0}
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
        while time.monotonic() < deadline:
            with lock:
                body = next(queue, None)
            if body is None:
                return
            started = time.perf_counter()
            response = session.post(url, data=body, headers=headers, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code == 202:
                    answer = response.json()
                    totals["accepted"] += answer["accepted"]
                    totals["duplicates"] += answer["duplicates"]
                    totals["rejected"] += len(answer["rejected"])
            if response.status_code in (429, 503):
                time.sleep(float(response.headers.get("Retry-After", 1)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started, clients_cpu, machine = time.perf_counter(), time.process_time(), _machine_busy()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    clients_cpu, machine = time.process_time() - clients_cpu, _machine_busy() - machine
    latencies.sort()
    return {"wall": wall, "latencies": latencies, "statuses": statuses, **totals, "clients_cpu": clients_cpu,
            "machine_cpu": machine, "exhausted": next(queue, None) is None}  # fmt: skip


def floor_phase(*, db_url: str, db_name: str, rows: int, connections: int, batch: int) -> dict:
    """Loads `rows` copies of stored rows (fresh event ids) with COPY + INSERT … SELECT … ON CONFLICT DO NOTHING."""
    with psycopg.connect(db_url) as conn, conn.cursor() as cursor:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'telemetry_inferencesession' "
            "AND column_name NOT IN ('id', 'event_id') ORDER BY ordinal_position"
        ).fetchall()
        cols = ", ".join(["event_id"] + [f'"{name}"' for (name,) in columns])  # event_id first: replaced per row
        sample = []
        # The rows end to end stored, in their order: each batch one device's, as posted (repeating one batch made
        # every floor row one device's, with the same session ids and times).
        stored = f"COPY (SELECT {cols} FROM telemetry_inferencesession ORDER BY id LIMIT {rows}) TO STDOUT"  # noqa: S608
        with cursor.copy(stored) as copy:
            for chunk in copy:
                sample.append(bytes(chunk))
    lines = b"".join(sample).splitlines(keepends=True)  # event_id is the first column: 36 characters
    payloads = []
    for start in range(0, rows, batch):
        numbers = range(start, min(rows, start + batch))
        payloads.append(b"".join(str(uuid7()).encode() + lines[i % len(lines)][36:] for i in numbers))
    lock, queue = threading.Lock(), iter(payloads)
    # Loaders keep their connections open until their backends' CPU has been read.
    loaded, measured = threading.Barrier(connections + 1), threading.Event()

    def loader() -> None:
        with psycopg.connect(db_url) as conn:
            conn.execute(
                f"CREATE TEMP TABLE floor_stage ON COMMIT DELETE ROWS AS SELECT {cols} FROM telemetry_inferencesession WITH NO DATA"  # noqa: E501,S608
            )
            conn.commit()
            while True:
                with lock:
                    payload = next(queue, None)
                if payload is None:
                    loaded.wait()
                    measured.wait()
                    return
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy(f"COPY floor_stage ({cols}) FROM STDIN") as copy:
                        copy.write(payload)
                    # The same dedupe as the app: the event keys first, then the rows whose key was new.
                    cursor.execute(
                        "WITH fresh AS (INSERT INTO telemetry_sessioneventkey (event_id, day) SELECT event_id, "  # noqa: S608
                        "(started_at AT TIME ZONE 'UTC')::date FROM floor_stage ON CONFLICT (event_id) DO NOTHING "
                        f"RETURNING event_id) INSERT INTO telemetry_inferencesession ({cols}) SELECT {cols} "
                        "FROM floor_stage WHERE event_id IN (SELECT event_id FROM fresh)"
                    )

    threads = [threading.Thread(target=loader) for _ in range(connections)]
    meter = CpuMeter({"database": lambda: _postgres_pids(db_name)})
    meter.start()  # the loaders' backends are new: all their CPU counts
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    loaded.wait()
    wall = time.perf_counter() - started
    db_cpu = meter.stop()["database"]
    measured.set()
    for thread in threads:
        thread.join()
    return {"wall": wall, "rows": rows, "db_cpu": db_cpu}


def checkpoint(db_url: str) -> None:
    """Starts a phase right after a CHECKPOINT: full-page writes (the first change of each page after one) then
    weigh on both phases alike, instead of on whichever phase a checkpoint happened to precede (±10 % either way)."""
    try:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("note: not allowed to CHECKPOINT (needs superuser or pg_checkpoint): phases start wherever WAL is")


def rollup_lag(*, db_url: str, broker: redis.Redis, queue: str, limit: float) -> str:
    started = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        while time.monotonic() - started < limit:
            (dirty,) = conn.execute("SELECT count(*) FROM telemetry_rollupdirtyhour").fetchone()
            if dirty == 0 and broker.llen(queue) == 0:
                return f"{time.monotonic() - started:.1f} s"
            time.sleep(0.5)
        (dirty,) = conn.execute("SELECT count(*) FROM telemetry_rollupdirtyhour").fetchone()
    return f"> {limit:.0f} s ({dirty} hours dirty, {broker.llen(queue)} tasks queued)"


def main() -> None:
    args = _arguments()
    ratios = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"\n== round {number} of {args.rounds}", flush=True)
        ratios.append(run(args))
    if args.rounds > 1:
        wall, per_cpu = zip(*ratios, strict=True)
        print(f"\n{args.rounds} rounds, ratio end to end / floor: median {statistics.median(wall):.0%} "
              f"({', '.join(f'{r:.0%}' for r in wall)}); per CPU-second median {statistics.median(per_cpu):.0%} "
              f"({', '.join(f'{r:.0%}' for r in per_cpu)})")  # fmt: skip


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rollup-wait", type=float, default=60)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-worker", action="store_true", help="no Celery worker: what the rollups cost the web")
    parser.add_argument("--rounds", type=int, default=1, help="whole runs back to back, each on a fresh database; "
                        "prints the median ratio (one run swings ±8 points on a shared machine)")  # fmt: skip
    return parser.parse_args()


def run(args: argparse.Namespace) -> tuple[float, float]:
    """One whole run on a fresh database; prints its figures, returns (ratio, ratio per CPU-second)."""
    db_name = f"ep_ingest_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    db_url = f"{args.server.rstrip('/')}/{db_name}"
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": db_url, "SECRET_KEY": "bench-" + "x" * 60, "DEBUG": "0",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "0", "STATIC_MANIFEST": "0", "LOG_LEVEL": "WARNING",
           "INGEST_RATE": "1000000/min", "CELERY_BROKER_URL": args.redis, "REDIS_URL": args.redis,
           "CELERY_TASK_DEFAULT_QUEUE": queue, "DB_CONN_MAX_AGE": "600"}  # fmt: skip
    with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    processes: list[subprocess.Popen] = []
    try:
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, capture_output=True)
        seeded = subprocess.run([*manage, "shell", "-c", SEED.format(models=DEVICE_MODELS)], env=env, cwd=ROOT,
                                check=True, capture_output=True, text=True)  # fmt: skip
        key = seeded.stdout.strip().splitlines()[-1]
        count = int(args.seconds * 40) + 20  # 40k events/s: more than 2 cores take
        print(f"building {count} batches of {args.batch} events …", flush=True)
        bodies = batches_build(count=count, size=args.batch, crash_share=0.02, devices=args.devices)

        (ROOT / "test-artifacts").mkdir(exist_ok=True)  # git-ignored; absent on a fresh clone
        log = open(ROOT / "test-artifacts" / "ingest-bench.log", "w")  # noqa: SIM115
        web = subprocess.Popen([str(VENV_BIN / "gunicorn"), "edgeportal.wsgi:application", "-w", str(args.workers),
                                "-b", f"127.0.0.1:{args.port}", "--timeout", "120"], env=env, cwd=ROOT,
                               stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        worker_command = [str(VENV_BIN / "celery"), "-A", "edgeportal", "worker", "-Q", queue, "-c", "1",
                          "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
        if args.no_worker:
            worker_command = ["sleep", "100000"]  # tasks stay queued in Redis
        worker = subprocess.Popen(worker_command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        processes += [web, worker]
        base = f"http://127.0.0.1:{args.port}"
        _wait_http(f"{base}/healthz")
        url = f"{base}/api/v1/ingest/"
        http_phase(url=url, key=key, bodies=bodies[:4], clients=2, seconds=30)  # warm up connections and imports

        def worker_ports() -> set[int]:
            return _local_ports([worker.pid, *_children(worker.pid)])

        meter = CpuMeter({
            "web": lambda: [web.pid, *_children(web.pid)],
            "worker": lambda: [worker.pid, *_children(worker.pid)],
            "db (ingest)": lambda: _postgres_pids(db_name, client_ports=worker_ports(), exclude=True),
            "db (rollups)": lambda: _postgres_pids(db_name, client_ports=worker_ports()),
        })  # fmt: skip
        checkpoint(db_url)
        meter.start()
        http = http_phase(url=url, key=key, bodies=bodies[4:], clients=args.clients, seconds=args.seconds)
        cpu = meter.stop()
        peak_rss = max(_peak_rss_mb(pid) for pid in _children(web.pid))
        broker = redis.Redis.from_url(args.redis)
        if args.no_worker:
            lag = "no worker"
            broker.delete(queue)
        else:
            lag = rollup_lag(db_url=db_url, broker=broker, queue=queue, limit=args.rollup_wait)
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)

        checkpoint(db_url)
        floor = floor_phase(
            db_url=db_url, db_name=db_name, rows=http["accepted"], connections=args.workers, batch=args.batch
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        redis.Redis.from_url(args.redis).delete(queue)  # rollup tasks left queued for the dropped database
        if not args.keep_db:
            with psycopg.connect(f"{args.server.rstrip('/')}/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    e2e = http["accepted"] / http["wall"]
    floor_rate = floor["rows"] / floor["wall"]
    lat = http["latencies"]
    print(f"\ningest bench: {args.workers} gunicorn workers, {args.clients} clients, {args.batch}-event gzip batches, "
          f"{args.seconds:.0f} s; {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'end to end (HTTP)':<28}{e2e:>12,.0f} events/s  ({http['accepted']:,} stored in {http['wall']:.1f} s, "
          f"statuses {http['statuses']}, duplicates {http['duplicates']}, rejected {http['rejected']})")  # fmt: skip
    print(f"{'database floor (COPY)':<28}{floor_rate:>12,.0f} rows/s    ({floor['rows']:,} rows in {floor['wall']:.1f} s, "
          f"{args.workers} connections)")  # fmt: skip
    print(f"{'ratio':<28}{e2e / floor_rate:>12.0%}      (target ≥ 70 %)")
    print(f"{'request p50 / p99':<28}{statistics.median(lat) * 1000:>9.0f} ms / {lat[int(len(lat) * 0.99) - 1] * 1000:.0f} ms"  # noqa: E501
          f"  ({len(lat)} requests)")  # fmt: skip
    print(
        f"{'CPU (cores busy)':<28}" + ", ".join(f"{name} {seconds / http['wall']:.2f}" for name, seconds in cpu.items())
    )
    known = sum(cpu.values()) + http["clients_cpu"]
    print(f"{'':<28}clients (this process) {http['clients_cpu'] / http['wall']:.2f}, everything else on the machine "
          f"{(http['machine_cpu'] - known) / http['wall']:.2f} (of {os.cpu_count()} cores)")  # fmt: skip
    stack_cpu = cpu["web"] + cpu["db (ingest)"]
    per_cpu, floor_per_cpu = http["accepted"] / stack_cpu, floor["rows"] / floor["db_cpu"]
    print(f"{'per CPU-second':<28}{per_cpu:>12,.0f} events (web + db ingest) vs floor {floor_per_cpu:,.0f} rows (db): "
          f"{per_cpu / floor_per_cpu:.0%}  (independent of other load on the machine)")  # fmt: skip
    print(f"{'peak RSS per web worker':<28}{peak_rss:>9.0f} MiB")
    print(f"{'rollup lag after last post':<28}{lag:>12}")
    if http["exhausted"]:
        print("note: the clients ran out of pre-built batches before the time was up")
    return e2e / floor_rate, per_cpu / floor_per_cpu


if __name__ == "__main__":
    main()
