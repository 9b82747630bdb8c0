"""Ingest counters shared by every web and MQTT process: one Redis hash (HINCRBY is atomic across workers).

Without REDIS_URL (the embedded one-process demo) they live in this process's memory. A counter is advisory:
when Redis is down the ingest still answers and the miss is logged, the stored data is the truth.
"""

import logging
import re
import threading
from collections import Counter

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

COUNTERS_KEY = "edgeportal:protocols:ingest_counters"
_local: Counter = Counter()
_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}
_FIELD_ROOT = re.compile(r"^[A-Za-z_.]*?(?=[.\[]|$)")


def _client() -> redis.Redis | None:
    url = settings.REDIS_URL
    if not url:
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return _clients[url]


def rejection_reason(errors: dict) -> str:
    """A bounded label for a rejected event: the root of its first failing field (`frames[3].in_app` → `frames`)."""
    name = next(iter(errors), "event")
    match = _FIELD_ROOT.match(str(name))
    return (match.group(0) if match and match.group(0) else "event")[:40]


def ingest_count(
    *, transport: str, accepted: int = 0, duplicates: int = 0, rejected: dict[str, int] | None = None
) -> None:
    fields = Counter({f"{transport}|accepted|": accepted, f"{transport}|duplicates|": duplicates})
    fields.update({f"{transport}|rejected|{reason}": n for reason, n in (rejected or {}).items()})
    fields = +fields  # drops zeros
    if not fields:
        return
    client = _client()
    if client is None:
        with _lock:
            _local.update(fields)
        return
    try:
        pipe = client.pipeline(transaction=False)
        for name, amount in fields.items():
            pipe.hincrby(COUNTERS_KEY, name, amount)
        pipe.execute()
    except redis.RedisError as error:
        logger.warning("ingest counters not updated (Redis unavailable): %s", error)


def ingest_counters() -> dict[tuple[str, str, str], int]:
    """{(transport, outcome, reason): total} since the counters began."""
    client = _client()
    if client is None:
        with _lock:
            raw = dict(_local)
    else:
        raw = {name.decode(): int(value) for name, value in client.hgetall(COUNTERS_KEY).items()}
    return {tuple(name.split("|", 2)): value for name, value in raw.items()}
