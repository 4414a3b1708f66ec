"""API keys and the per-client rate limit."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections.abc import Iterable


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "replace")).digest()


class ApiKeys:
    """The accepted keys, compared in constant time (the digests hide the lengths too)."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(key) for key in keys]

    def match(self, presented: str | None) -> int | None:
        """The index of the key ``presented`` is, or None. Every key is compared, whatever matches."""
        if not presented:
            return None
        candidate = _digest(presented)
        found = None
        for index, digest in enumerate(self._digests):
            if hmac.compare_digest(candidate, digest) and found is None:
                found = index
        return found


class RateLimiter:
    """One token bucket per client: ``rate`` tokens a second, at most ``burst`` saved up.

    In-process only: with N instances behind the load balancer a client gets up to N times the rate.
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Take one token for ``client``: 0.0 when allowed, else the seconds until a token is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Forget the clients whose bucket is full again: they are in the same state as a new client."""
        full = [c for c, (tokens, last) in self._buckets.items() if tokens + (now - last) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
