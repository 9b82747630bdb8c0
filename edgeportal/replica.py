"""The read replica: which reads may go to it, the database router, and how far behind it is.

Reads go to the `replica` alias (DATABASE_REPLICA_URL) only inside `replica_reads()`, which
`edgeportal.middleware.ReplicaReadsMiddleware` opens around a GET to a page, an export or the read API. Everything
else reads and writes the primary: ingest and triage (POSTs), rollups and every Celery task (no request), any
read inside a transaction, who the user is and what they may do, and every request of a client that wrote within
the last REPLICA_PIN_S seconds (read-your-own-writes). Without the alias this module routes nothing.
"""

import contextvars
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

REPLICA = "replica"
# A stale identity is a security bug, not a stale figure: a revoked key, a removed role, a new fleet limit or a
# logged-out session must take effect at once, so these are always read from the primary. (A fleet limit read from
# a lagging replica would also be cached for core.fleets.CACHE_TTL_S, right after its change cleared the cache.)
PRIMARY_ONLY_APPS = frozenset({"auth", "sessions", "axes", "admin", "contenttypes"})
PRIMARY_ONLY_MODELS = frozenset({"edgeportal.apikey", "edgeportal.fleetlimit"})
# How often a process re-measures the replica's lag (the first routed read after this long pays one query).
LAG_CHECK_INTERVAL_S = 5.0
# Replay lag measured on the replica itself (any role may run it; pg_stat_replication on the primary needs
# pg_monitor). With nothing left to replay the replica is current however old its last replayed commit is.
LAG_SQL = """
    SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END
"""

_reads_on_replica: contextvars.ContextVar[bool] = contextvars.ContextVar("reads_on_replica", default=False)


@dataclass(frozen=True)
class ReplicaState:
    """One measurement of the replica: reachable or not, its lag, and whether reads may use it."""

    usable: bool
    status: str  # "ok", "lagging" (over REPLICA_MAX_LAG_S: reads use the primary) or "unreachable"
    lag_s: float | None = None
    error: str | None = None
    measured_at: float = 0.0  # time.monotonic()

    def as_json(self) -> dict:
        lag_s = None if self.lag_s is None else round(self.lag_s, 3)
        body = {"status": self.status, "lag_s": lag_s, "max_lag_s": settings.REPLICA_MAX_LAG_S}
        if self.error:
            body["error"] = self.error
        return body


_last_state: ReplicaState | None = None


def replica_configured() -> bool:
    return settings.DATABASE_REPLICA_URL is not None  # settings.py adds the alias exactly then


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside may be served by the replica (a figure up to REPLICA_MAX_LAG_S old is acceptable here)."""
    token = _reads_on_replica.set(True)
    try:
        yield
    finally:
        _reads_on_replica.reset(token)


def streamed_with_replica_reads(chunks: Iterable) -> Iterator:
    """A streamed export's rows are read while the server iterates, after the middleware has returned: each chunk
    is produced inside the replica context again (set and reset per chunk, so a generator abandoned half-way never
    leaves the context set on the server's thread)."""
    iterator = iter(chunks)
    while True:
        token = _reads_on_replica.set(True)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _reads_on_replica.reset(token)
        yield chunk


def replica_state_measure() -> ReplicaState:
    """Measures the replica now (the health page; the router's periodic check) and keeps it for the router."""
    global _last_state
    now = time.monotonic()
    replica = connections[REPLICA]
    try:
        with replica.cursor() as cursor:
            cursor.execute(LAG_SQL)
            (lag_s,) = cursor.fetchone()
    except DatabaseError as exc:
        with suppress(DatabaseError):  # closing a broken connection may fail the same way; it is dropped anyway
            replica.close()  # the next measurement reconnects instead of reusing a broken connection
        state = ReplicaState(False, "unreachable", error=f"{type(exc).__name__}: {exc}".strip()[:200], measured_at=now)
    else:
        if lag_s is None:  # still receiving but nothing replayed since it started: how far behind is unknown
            state = ReplicaState(False, "lagging", measured_at=now)
        elif lag_s > settings.REPLICA_MAX_LAG_S:
            state = ReplicaState(False, "lagging", lag_s=lag_s, measured_at=now)
        else:
            state = ReplicaState(True, "ok", lag_s=lag_s, measured_at=now)
    _last_state = state
    return state


def _replica_usable() -> bool:
    state = _last_state
    if state is None or time.monotonic() - state.measured_at >= LAG_CHECK_INTERVAL_S:
        state = replica_state_measure()
    return state.usable


class ReplicaRouter:
    """Reads of a replica-eligible request go to the replica; all else, and every write and migration, to the
    primary. Installed always; without the `replica` alias nothing is ever eligible."""

    def db_for_read(self, model, **hints):
        if not _reads_on_replica.get() or not replica_configured():
            return None
        meta = model._meta
        if meta.app_label in PRIMARY_ONLY_APPS or meta.label_lower in PRIMARY_ONLY_MODELS:
            return None
        # A read inside a transaction belongs with its writes (and a select_for_update must lock the primary's row).
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        return REPLICA if _replica_usable() else None

    def db_for_write(self, model, **hints):
        # Explicitly the primary: without a router answer Django would write where the instance was read from.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True  # the same rows, read from one copy or the other
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None  # the replica gets its schema by streaming the primary's WAL
