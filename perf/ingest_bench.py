"""Ingest end to end on the real stack against the database floor, in one run on one throwaway database.

    .venv/bin/python perf/ingest_bench.py [--workers 2] [--clients 4] [--seconds 20] [--rounds 3] [--server ...]

1. Creates a throwaway PostgreSQL database, migrates it, seeds a small catalog and an `ingest` key.
2. Starts gunicorn (W sync workers on 127.0.0.1), a Celery worker on Redis (--redis) and posts realistic
   1,000-event gzip batches (SDK-built events, unique UUIDv7 ids, ~20-bucket histograms, 10 % with raw samples,
   2 % crashes) from C client threads for a fixed time: events/s, request p50/p99, CPU split, peak RSS per worker,
   rollup lag (until no hour is left dirty and the queue is empty).
3. Stops the stack and loads the same number of rows (the stored rows, with fresh event ids) into the same table
   with its indexes from W parallel connections: COPY into a staging table + INSERT … SELECT … ON CONFLICT DO
   NOTHING into the event key table and the rows whose key was new, no HTTP, no Django (the staged floor); then
   COPY of the same rows straight into the session table, no key table (the straight floor: the physical limit of
   storing them). Prints end to end against each; the target is ≥ 70 % of the straight floor.

`--split-cores` runs the whole round with the PostgreSQL server on the last core and everything else (gunicorn, the
worker, the clients, the floors' loaders) on the others: a database node and a web node, as production runs them, so
the floors measure what one database core stores and end to end shows whether the stack makes that core do more than
store the rows. Without it (the default) web and database take turns on the same cores. Affinity is restored after.

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
from perf.ingest_floor import checkpoint, floor_phase  # noqa: E402
from perf.procstat import (  # noqa: E402
    CpuMeter,
    children,
    local_ports,
    machine_busy,
    peak_rss_mb,
    pin,
    postgres_pids,
    postgres_server_pids,
)

VENV_BIN = Path(sys.executable).parent
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
    started, clients_cpu, machine = time.perf_counter(), time.process_time(), machine_busy()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    clients_cpu, machine = time.process_time() - clients_cpu, machine_busy() - machine
    latencies.sort()
    return {"wall": wall, "latencies": latencies, "statuses": statuses, **totals, "clients_cpu": clients_cpu,
            "machine_cpu": machine, "exhausted": next(queue, None) is None}  # fmt: skip


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
        wall, per_cpu, straight = zip(*ratios, strict=True)
        print(f"\n{args.rounds} rounds, ratio end to end / staged floor: median {statistics.median(wall):.0%} "
              f"({', '.join(f'{r:.0%}' for r in wall)}); per CPU-second median {statistics.median(per_cpu):.0%} "
              f"({', '.join(f'{r:.0%}' for r in per_cpu)}); to the straight floor: median "
              f"{statistics.median(straight):.0%} ({', '.join(f'{r:.0%}' for r in straight)})")  # fmt: skip


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
    parser.add_argument("--db-prefix", default="ep_ingest_bench", help="name prefix of the throwaway database")
    parser.add_argument("--no-worker", action="store_true", help="no Celery worker: what the rollups cost the web")
    parser.add_argument("--split-cores", action="store_true", help="PostgreSQL on the last core, the rest on the "
                        "others (module docstring)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="whole runs back to back, each on a fresh database; "
                        "prints the median ratio (one run swings ±8 points on a shared machine)")  # fmt: skip
    return parser.parse_args()


def run(args: argparse.Namespace) -> tuple[float, float, float]:
    """One whole run on a fresh database (cores split with --split-cores); prints its figures, returns its ratios."""
    if not args.split_cores:
        return _run(args)
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        raise SystemExit("--split-cores needs two cores")
    database = {max(every)}
    pin(postgres_server_pids(), database)  # the postmaster too: backends forked later inherit it
    os.sched_setaffinity(0, every - database)  # before any thread or child: they inherit it
    try:
        return _run(args)
    finally:
        pin(postgres_server_pids(), every)
        os.sched_setaffinity(0, every)


def _run(args: argparse.Namespace) -> tuple[float, float, float]:
    db_name = f"{args.db_prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
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
            return local_ports([worker.pid, *children(worker.pid)])

        meter = CpuMeter({
            "web": lambda: [web.pid, *children(web.pid)],
            "worker": lambda: [worker.pid, *children(worker.pid)],
            "db (ingest)": lambda: postgres_pids(db_name, client_ports=worker_ports(), exclude=True),
            "db (rollups)": lambda: postgres_pids(db_name, client_ports=worker_ports()),
        })  # fmt: skip
        checkpoint(db_url)
        meter.start()
        http = http_phase(url=url, key=key, bodies=bodies[4:], clients=args.clients, seconds=args.seconds)
        cpu = meter.stop()
        peak_rss = max(peak_rss_mb(pid) for pid in children(web.pid))
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

        floors = {}
        for kind in ("staged", "straight"):  # the straight rows stay in the table: it is dropped after the run
            checkpoint(db_url)
            floors[kind] = floor_phase(db_url=db_url, db_name=db_name, rows=http["accepted"],
                                       connections=args.workers, batch=args.batch, straight=kind == "straight")  # fmt: skip
        floor = floors["staged"]
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
    cores = "database on 1 core, the rest on the other" if args.split_cores else "shared by web and database"
    print(f"\ningest bench: {args.workers} gunicorn workers, {args.clients} clients, {args.batch}-event gzip batches, "
          f"{args.seconds:.0f} s; {os.cpu_count()} cores ({cores}), load avg {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'end to end (HTTP)':<28}{e2e:>12,.0f} events/s  ({http['accepted']:,} stored in {http['wall']:.1f} s, "
          f"statuses {http['statuses']}, duplicates {http['duplicates']}, rejected {http['rejected']})")  # fmt: skip
    print(f"{'database floor (COPY)':<28}{floor_rate:>12,.0f} rows/s    ({floor['rows']:,} rows in {floor['wall']:.1f} s, "
          f"{args.workers} connections)")  # fmt: skip
    straight_rate = floors["straight"]["rows"] / floors["straight"]["wall"]
    straight_cpu = floors["straight"]["db_cpu"] / floors["straight"]["rows"] * 1e6
    print(f"{'straight floor (COPY)':<28}{straight_rate:>12,.0f} rows/s    (COPY into the session table itself, "
          f"no key table, {floors['straight']['wall']:.1f} s, database {straight_cpu:.1f} µs per row)")  # fmt: skip
    print(f"{'ratio to the staged floor':<28}{e2e / floor_rate:>12.0%}")
    print(f"{'ratio to the straight floor':<28}{e2e / straight_rate:>12.0%}      (target ≥ 70 %)")
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
    db_event = (cpu["db (ingest)"] + cpu["db (rollups)"]) / http["accepted"] * 1e6
    print(f"{'database per stored event':<28}{db_event:>9.1f} µs  (ingest + rollups) vs {straight_cpu:.1f} µs per row "
          f"of the straight floor: {straight_cpu / db_event:.0%}; web {cpu['web'] / http['accepted'] * 1e6:.1f} µs, "
          f"worker {cpu['worker'] / http['accepted'] * 1e6:.1f} µs")  # fmt: skip
    print(f"{'peak RSS per web worker':<28}{peak_rss:>9.0f} MiB")
    print(f"{'rollup lag after last post':<28}{lag:>12}")
    if http["exhausted"]:
        print("note: the clients ran out of pre-built batches before the time was up")
    return e2e / floor_rate, per_cpu / floor_per_cpu, e2e / straight_rate


if __name__ == "__main__":
    main()
