"""Two `docent serve` processes (two API replicas) sharing one real Redis: together they allow the configured
request rate, not twice it; with Redis down each falls back to its own buckets, says so in /readyz and its
metrics, and keeps answering.

Each replica has its own data directory (the embedded index has one writer) and no documents: the limit is
counted in authentication, before any route runs. Extractive mode: no model is loaded beyond retrieval's.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.docent_server import Server
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow

LIMITED = {
    "DOCENT_AUTH__ANONYMOUS": "true",
    "DOCENT_ANSWER__MODE": "extractive",
    "DOCENT_LIMITS__BURST": "5",
    "DOCENT_LIMITS__REQUESTS_PER_MINUTE": "5",
}


def test_two_replicas_share_one_rate_limit_through_redis(tmp_path):
    with RedisServer(tmp_path / "redis") as redis:
        settings = {**LIMITED, "DOCENT_REDIS_URL": redis.url}
        with (
            Server(tmp_path / "a", tmp_path / "a.log", **settings) as a,
            Server(tmp_path / "b", tmp_path / "b.log", **settings) as b,
        ):
            for server in (a, b):
                assert httpx.get(f"{server.url}/readyz", timeout=10).json()["rate_limits"] == "shared"
            statuses = [httpx.get(f"{(a, b)[i % 2].url}/v1/me", timeout=10).status_code for i in range(12)]
            assert statuses.count(200) == 5, statuses  # one anonymous caller (127.0.0.1): 5 in all, not 10
            assert set(statuses) == {200, 429}
            refused = httpx.get(f"{a.url}/v1/me", timeout=10)
            assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60

            redis.stop()
            try:
                started = time.monotonic()
                ready = httpx.get(f"{a.url}/readyz", timeout=10)
                assert ready.status_code == 200, ready.text  # still ready: answers work without Redis
                assert ready.json()["rate_limits"] == "local (redis unreachable)"
                assert time.monotonic() - started < 2.0
                # Each replica's own bucket decides now: a fresh burst of 5 on each.
                local = [httpx.get(f"{a.url}/v1/me", timeout=10).status_code for _ in range(7)]
                assert local.count(200) == 5, local
                metrics = httpx.get(f"{a.url}/metrics", timeout=10).text
                assert "docent_rate_limits_shared 0.0" in metrics
                assert "docent_rate_limit_fallbacks_total 7.0" in metrics
            finally:
                redis.start()
            time.sleep(5.5)  # past the 5 s the replicas leave a failed Redis alone
            assert httpx.get(f"{a.url}/readyz", timeout=10).json()["rate_limits"] == "shared"
            assert httpx.get(f"{b.url}/v1/me", timeout=10).status_code == 200  # Redis came back empty
