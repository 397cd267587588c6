"""A per-caller request rate limit: a token bucket for each API key (or client address when anonymous).

A bucket holds up to `burst` requests and refills at `per_minute / 60` a second; a request finding it empty is
refused with the seconds until the next token, which the API sends as `Retry-After` with its 429. Buckets live
in this process (one API replica's share of the limit); idle ones are forgotten so memory stays bounded. With
Redis, `serve/stores/shared_limits.py` counts for all replicas together and falls back to these buckets.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol

from retrieval.errors import RateLimitedError


class Limiter(Protocol):
    """Counts a caller's requests: `check(caller)` returns, or raises `RateLimitedError` with `retry_after`."""

    def check(self, caller: str) -> None: ...


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, *, clock=time.monotonic, max_callers: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_callers = max_callers
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, at)
        self._lock = threading.Lock()

    def check(self, caller: str) -> None:
        """Take one token for `caller`, or raise `RateLimitedError` saying when to retry."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                retry_after = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise RateLimitedError(
                    f"rate limit exceeded: at most {self.rate * 60:.0f} requests a minute "
                    f"(bursts of {self.burst:.0f}); retry in {retry_after} s",
                    retry_after,
                )
            if len(self._buckets) >= self.max_callers and caller not in self._buckets:
                self._forget_full(now)
            self._buckets[caller] = (tokens - 1.0, now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing."""
        full = [c for c, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for caller in full:
            del self._buckets[caller]
