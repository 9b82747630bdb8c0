"""The database floor of ingest: the rows end to end stored, loaded again (fresh event ids) without HTTP or Django.

Two floors, both into the same table with its indexes and constraints: staged, the app's own dedupe (COPY into a
staging table, then INSERT … ON CONFLICT into the event key table and the rows whose key was new), and straight,
COPY into the session table itself with no key table, the physical limit of storing these rows.

Raw SQL here (S608) is built from the table's own column names and fixed table names only.
"""

from __future__ import annotations

import threading
import time

import psycopg

from edgeportal_client.events import uuid7

from .procstat import CpuMeter, postgres_pids


def floor_phase(*, db_url: str, db_name: str, rows: int, connections: int, batch: int, straight: bool = False) -> dict:
    """Loads `rows` copies of stored rows (fresh event ids) from `connections` connections in `batch`-row transactions.

    Staged (the app's dedupe): COPY into a staging table, then the event keys first and the rows whose key was new.
    Straight: COPY into the session table itself, same indexes and constraints, no key table: the physical limit."""
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
            if not straight:
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
                    if straight:
                        with cursor.copy(f"COPY telemetry_inferencesession ({cols}) FROM STDIN") as copy:
                            copy.write(payload)
                        continue
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
    meter = CpuMeter({"database": lambda: postgres_pids(db_name)})
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
