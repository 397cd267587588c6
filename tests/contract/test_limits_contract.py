"""One contract, every limiter: this process's token buckets (the embedded default) and the shared ones counted in
Redis for all API replicas (a real redis-server started by the tests).

The contract: a caller gets its burst, then `RateLimitedError` with a retry of at least a second and at most
the time the limit takes to refill; callers are independent. The escalation budget allows the caller's share
and the process's, names the budget that is spent, and None is no limit. Shared limiters add: two instances on
one Redis (two replicas) together allow the configured number, not twice it; a Redis that stops answering is
replaced by the local buckets within a bounded time, said by the state (/readyz), a gauge and a counter, and
the limits are shared again once Redis answers.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from answer.routing import Budget, EscalationBudget
from retrieval.errors import RateLimitedError
from serve.stores.ratelimit import Limiter, RateLimiter
from serve.stores.shared_limits import (
    LOCAL,
    SHARED,
    SharedEscalationBudget,
    SharedLimits,
    SharedRateLimiter,
)
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def shared(redis_server):
    """A fresh `SharedLimits` on the module's Redis, emptied, with its own metrics."""
    redis_server.flush()
    limits = SharedLimits(redis_server.url, retry_s=0.5, registry=CollectorRegistry())
    yield limits
    limits.close()


@pytest.fixture(params=["local", "redis"])
def make_limiter(request):
    """A function that builds a limiter of the parametrised kind: (per_minute, burst) -> Limiter."""
    if request.param == "local":
        return lambda per_minute, burst: RateLimiter(per_minute, burst)
    shared = request.getfixturevalue("shared")
    return lambda per_minute, burst: SharedRateLimiter(shared, "requests", per_minute, burst)


@pytest.fixture(params=["local", "redis"])
def make_budget(request):
    """A function that builds an escalation budget of the parametrised kind."""
    if request.param == "local":
        return lambda per_minute, per_caller: EscalationBudget(per_minute, per_caller)
    shared = request.getfixturevalue("shared")
    return lambda per_minute, per_caller: SharedEscalationBudget(shared, per_minute, per_caller)


def allowed(limiter: Limiter, caller: str, tries: int) -> int:
    n = 0
    for _ in range(tries):
        try:
            limiter.check(caller)
            n += 1
        except RateLimitedError:
            pass
    return n


def test_a_caller_gets_its_burst_then_a_retry_after(make_limiter):
    limiter = make_limiter(60, 3)  # 3 at once, then one a second
    assert allowed(limiter, "ann", 3) == 3
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("ann")
    assert 1 <= refused.value.retry_after_s <= 3  # the bucket refills a token a second; the window in 3 s
    assert "60 requests a minute" in refused.value.message


def test_callers_are_independent(make_limiter):
    limiter = make_limiter(5, 5)
    assert allowed(limiter, "ann", 8) == 5
    assert allowed(limiter, "bob", 8) == 5
    with pytest.raises(RateLimitedError) as refused:
        limiter.check("ann")
    assert 1 <= refused.value.retry_after_s <= 60


def test_the_escalation_budget_names_what_is_spent(make_budget):
    budget: Budget = make_budget(3, 2)
    assert [budget.take("ann") for _ in range(3)] == [None, None, "caller"]
    assert budget.take("bob") is None
    assert budget.take("cid") == "global"  # ann 2 + bob 1 spent the process's 3
    assert all(make_budget(None, None).take("x") is None for _ in range(50))
    assert make_budget(0, None).take("x") == "global" and make_budget(None, 0).take("x") == "caller"


def test_two_replicas_on_one_redis_allow_the_limit_not_twice_it(redis_server):
    redis_server.flush()
    replicas = [SharedLimits(redis_server.url, registry=CollectorRegistry()) for _ in range(2)]
    limiters = [SharedRateLimiter(s, "requests", 5, 5) for s in replicas]
    results = []
    for i in range(20):
        try:
            limiters[i % 2].check("ann")
            results.append(i % 2)
        except RateLimitedError:
            pass
    assert len(results) == 5 and set(results) == {0, 1}  # both served, 5 in all
    budgets = [SharedEscalationBudget(s, 4, 3) for s in replicas]
    taken = [budgets[i % 2].take(f"caller{i % 3}") for i in range(12)]
    assert taken.count(None) == 4  # the global budget of 4 holds across both
    for s in replicas:
        s.close()


def scraped(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name)


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_a_down_redis_falls_back_to_local_buckets_and_recovers(redis_server, outage):
    """Stopped: connections are refused. Frozen (SIGSTOP): they hang, and the socket timeout bounds the wait."""
    redis_server.flush()
    registry = CollectorRegistry()
    shared = SharedLimits(redis_server.url, retry_s=0.5, registry=registry)
    limiter = SharedRateLimiter(shared, "requests", 60, 3)
    budget = SharedEscalationBudget(shared, 10, 10)
    assert allowed(limiter, "ann", 1) == 1 and shared.state() == SHARED
    assert scraped(registry, "docent_rate_limits_shared") == 1.0
    redis_server.stop() if outage == "stopped" else redis_server.freeze()
    try:
        started = time.monotonic()
        limiter.check("ann")  # the first call finds Redis down: bounded by the 0.25 s socket timeout
        first = time.monotonic() - started
        assert first < 1.0
        started = time.monotonic()
        # Then the local bucket decides without asking Redis: its burst of 3, then refusals.
        assert allowed(limiter, "ann", 5) == 2
        assert budget.take("ann") is None
        assert time.monotonic() - started < 0.5  # microseconds each: Redis is not asked again
        assert shared.state() == LOCAL
        assert scraped(registry, "docent_rate_limits_shared") == 0.0
        assert scraped(registry, "docent_rate_limit_fallbacks_total") == 7.0
    finally:
        redis_server.start() if outage == "stopped" else redis_server.thaw()
    time.sleep(0.6)  # past retry_s: the next decision asks Redis again
    assert shared.state() == SHARED
    assert scraped(registry, "docent_rate_limits_shared") == 1.0
    assert allowed(limiter, "bob", 5) == 3  # counted in Redis again: its burst
    shared.close()
