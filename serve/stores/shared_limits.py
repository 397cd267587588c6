"""Request rate limits and escalation budgets kept in Redis, so all API replicas together enforce them.

With `DOCENT_REDIS_URL` set, every replica counts a caller's requests (and the escalations to larger models) in
the same Redis keys through the `limits` library, so N replicas allow the configured rate, not N times it.

The strategy is `limits`' moving window: each hit is a timestamp in a Redis list, taken by one Lua script, so a
count is exact and atomic across replicas; the window's oldest entry says when a refused caller may retry.
(The sliding window counter keeps two integers instead, but approximates; at a few hundred requests a minute
per caller a list costs little, and an exact limit is one that two replicas cannot overshoot.)

When Redis fails (refused, timed out: socket timeouts of `timeout_s`, no retries), the decision is made by this
process's buckets (`RateLimiter`, `EscalationBudget`: one replica's share, as without Redis) and Redis is left
alone for `retry_s`, so a down Redis costs at most one timeout every few seconds, never one per request. The
outage is logged once, `docent_rate_limits_shared` drops to 0, `docent_rate_limit_fallbacks_total` counts the
decisions made locally, and `/readyz` says `"rate_limits": "local (redis unreachable)"`; answers keep working.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.backoff import NoBackoff
from redis.retry import Retry

from answer.routing import EscalationBudget
from retrieval.errors import RateLimitedError
from serve.stores.ratelimit import RateLimiter

log = logging.getLogger(__name__)

T = TypeVar("T")

SHARED = "shared"
LOCAL = "local (redis unreachable)"


class SharedLimits:
    """The Redis that the shared limiters count in, and whether it answers.

    `decide(shared, local)` runs `shared` (which talks to Redis) unless Redis failed in the last `retry_s`, and
    `local` when it fails or is known down. The constructor does no I/O; `close()` drops the connections."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "docent:limits",
        timeout_s: float = 0.25,
        retry_s: float = 5.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        no_retry = Retry(NoBackoff(), 0)  # a timeout is an answer: retrying would double the wait
        self._pool = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=no_retry
        )
        self._redis = redis.Redis(connection_pool=self._pool, retry=no_retry)
        storage = RedisStorage(url, connection_pool=self._pool, key_prefix=prefix, wrap_exceptions=True, retry=no_retry)
        self.strategy = MovingWindowRateLimiter(storage)
        self.retry_s = retry_s
        self.clock = clock
        self._down_until: float | None = None  # Redis failed: left alone until then
        self._lock = threading.Lock()
        registry = registry if registry is not None else CollectorRegistry()
        self._shared_gauge = Gauge(
            "docent_rate_limits_shared",
            "1: rate limits and escalation budgets are shared through Redis; 0: this process's own (Redis down)",
            registry=registry,
        )
        self._shared_gauge.set(1)
        self.fallbacks = Counter(
            "docent_rate_limit_fallbacks",
            "Rate-limit and budget decisions made in this process alone because Redis was unreachable",
            registry=registry,
        )

    @property
    def shared(self) -> bool:
        return self._down_until is None

    def decide(self, shared: Callable[[], T], local: Callable[[], T]) -> T:
        """`shared()`, or `local()` while Redis is down; only Redis's own failures fall back (a refusal is raised)."""
        if not self._may_try():
            self.fallbacks.inc()
            return local()
        try:
            result = shared()
        except StorageError as exc:
            self._failed(exc.storage_error)
            self.fallbacks.inc()
            return local()
        except RateLimitedError:
            self._answered()  # a refusal is Redis answering too
            raise
        self._answered()
        return result

    def state(self) -> str:
        """`SHARED` or `LOCAL`, asking Redis (one ping) unless it failed in the last `retry_s` (for /readyz)."""
        if self._may_try():
            try:
                self._redis.ping()
            except redis.RedisError as exc:
                self._failed(exc)
            else:
                self._answered()
        return SHARED if self.shared else LOCAL

    def close(self) -> None:
        self._pool.disconnect()

    def _may_try(self) -> bool:
        down_until = self._down_until
        return down_until is None or self.clock() >= down_until

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = self.clock() + self.retry_s
        if first:  # once per outage
            log.warning(
                "rate limits are local: redis unreachable error=%s: %s; retrying every %.0f s",
                type(exc).__name__,
                exc,
                self.retry_s,
            )
            self._shared_gauge.set(0)

    def _answered(self) -> None:
        with self._lock:
            was_down = self._down_until is not None
            self._down_until = None
        if was_down:
            log.warning("rate limits are shared again: redis answers")
            self._shared_gauge.set(1)


def _refused(strategy: MovingWindowRateLimiter, item: RateLimitItem, *identifiers: str) -> int:
    """Whole seconds until `item`'s window for `identifiers` has room again (at least 1)."""
    reset_at = strategy.get_window_stats(item, *identifiers).reset_time  # epoch seconds
    return max(1, math.ceil(reset_at - time.time()))


class SharedRateLimiter:
    """`RateLimiter.check` counted in Redis for all replicas together, falling back to `local` without Redis.

    A token bucket (`burst`, refilled at `per_minute`) becomes two moving windows: `burst` requests in
    `60 * burst / per_minute` seconds (rounded, at least 1), so bursts and the average rate match the bucket's,
    and `per_minute` in a minute, which only matters when that window is shorter than a minute. The windows are
    smoother than the bucket: one window never holds more than its amount, where a bucket allows `burst` plus
    the refill. A request refused by the minute's window has spent a place in the short one (hits are
    separate scripts): refusals are conservative, never generous. `name` keeps limiters' keys apart."""

    def __init__(
        self, shared: SharedLimits, name: str, per_minute: int, burst: int, *, local: RateLimiter | None = None
    ) -> None:
        self.shared = shared
        self.name = name
        self.per_minute, self.burst = per_minute, burst
        window = max(1, round(60 * burst / per_minute))
        self.items: list[RateLimitItem] = [RateLimitItemPerSecond(burst, window)]
        if window < 60:
            self.items.append(RateLimitItemPerMinute(per_minute))
        self.local = local or RateLimiter(per_minute, burst)

    def check(self, caller: str) -> None:
        """Count one request of `caller`, or raise `RateLimitedError` saying when to retry."""
        self.shared.decide(lambda: self._check_shared(caller), lambda: self.local.check(caller))

    def _check_shared(self, caller: str) -> None:
        strategy = self.shared.strategy
        for item in self.items:
            if not strategy.hit(item, self.name, caller):
                retry_after = _refused(strategy, item, self.name, caller)
                raise RateLimitedError(
                    f"rate limit exceeded: at most {self.per_minute} requests a minute "
                    f"(bursts of {self.burst}); retry in {retry_after} s",
                    retry_after,
                )


class SharedEscalationBudget:
    """`EscalationBudget.take` (the answerer's `Budget`) counted in Redis for all replicas together.

    Each budget is a moving window of its amount per minute: the global one and one per caller; None is no
    limit, 0 allows none. A caller's spent budget is read first, so a refused caller does not spend a global
    escalation; two replicas racing past that read may each spend a global one that the caller's window then
    refuses (conservative). Without Redis, `local` decides."""

    def __init__(
        self,
        shared: SharedLimits,
        per_minute: int | None,
        per_caller_per_minute: int | None,
        *,
        local: EscalationBudget | None = None,
    ) -> None:
        self.shared = shared
        self.per_minute, self.per_caller = per_minute, per_caller_per_minute
        self.global_item = RateLimitItemPerMinute(per_minute) if per_minute else None
        self.caller_item = RateLimitItemPerMinute(per_caller_per_minute) if per_caller_per_minute else None
        self.local = local or EscalationBudget(per_minute, per_caller_per_minute)

    def take(self, caller: str) -> str | None:
        """Spend one escalation for `caller`; None when allowed, else which budget is spent ("global"/"caller")."""
        if self.per_minute == 0:
            return "global"
        if self.per_caller == 0:
            return "caller"
        return self.shared.decide(lambda: self._take_shared(caller), lambda: self.local.take(caller))

    def _take_shared(self, caller: str) -> str | None:
        strategy = self.shared.strategy
        g, c = self.global_item, self.caller_item
        if c is not None and not strategy.test(c, "escalations-caller", caller):
            return "global" if g is not None and not strategy.test(g, "escalations-global") else "caller"
        if g is not None and not strategy.hit(g, "escalations-global"):
            return "global"
        if c is not None and not strategy.hit(c, "escalations-caller", caller):
            return "caller"
        return None
