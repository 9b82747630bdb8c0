"""The ingest rate limit, shared by every transport that posts batches (HTTP, Sentry, OpenTelemetry)."""

import logging
import threading
from collections import Counter

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from core.models import ApiKey

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5  # Retry-After of a 503 when the database is unavailable


class IngestRateThrottle(SimpleRateThrottle):
    """Per API key (by its clear prefix), rate from DEFAULT_THROTTLE_RATES["ingest"], in fixed windows.

    A counter per key and window, not DRF's list of every request's time: that list went to the cache and back
    whole, pickled, on every batch (~1 ms a request at the bench's rate, growing with the rate). A fixed window
    lets a burst reach twice the rate across a window's edge; Retry-After is the time left in the window.
    """

    scope = "ingest"
    # Redis unreachable: each process counts on its own (a key gets up to its rate per process), never a 500.
    _local_counts: Counter = Counter()
    _local_lock = threading.Lock()

    def get_cache_key(self, request, view) -> str:
        ident = request.auth.prefix if isinstance(request.auth, ApiKey) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None or (key := self.get_cache_key(request, view)) is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        counter = f"{key}:{window}"
        try:
            # Kept for two windows: it cannot expire between the existence check of incr() and the increment.
            if self.cache.add(counter, 1, timeout=2 * self.duration):
                return True
            return self.cache.incr(counter) <= self.num_requests
        except (RedisError, OSError) as error:
            logger.warning("ingest throttle: cache unavailable, counting in this process: %s", error)
            return self._local_allow(counter, window)

    def _local_allow(self, counter: str, window: int) -> bool:
        with self._local_lock:
            counts = IngestRateThrottle._local_counts
            for stale in [key for key in counts if not key.endswith(f":{window}")]:
                del counts[stale]
            counts[counter] += 1
            return counts[counter] <= self.num_requests

    def wait(self) -> float:
        return max(self.window_end - self.now, 1.0)
