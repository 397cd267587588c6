"""How long a throttled request waits, and how many times it is sent (ingest/connectors/throttling.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from ingest.connectors.throttling import retry_after, send


def answer(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_in_seconds_as_a_date_or_missing() -> None:
    assert retry_after({"Retry-After": "7"}, default=1, cap=60) == 7
    assert retry_after({"retry-after": "7"}, default=1, cap=2) == 2  # capped
    assert retry_after(answer(503).headers, default=1.5, cap=60) == 1.5
    assert retry_after({"Retry-After": "soon"}, default=1.5, cap=60) == 1.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after(answer(429, **{"Retry-After": later}).headers, default=1, cap=60) <= 30
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert retry_after({"Retry-After": earlier}, default=1, cap=60) == 0


def test_send_retries_throttling_a_bounded_number_of_times() -> None:
    statuses = iter([429, 503, 200])
    calls: list[int] = []

    def request() -> httpx.Response:
        calls.append(1)
        return answer(next(statuses), **{"Retry-After": "0"})

    assert send(request, attempts=5).status_code == 200 and len(calls) == 3
    calls.clear()
    assert send(lambda: calls.append(1) or answer(429, **{"Retry-After": "0"}), attempts=3).status_code == 429
    assert len(calls) == 3  # the last answer is returned for the caller to judge
    assert send(lambda: answer(404)).status_code == 404  # not throttling: no retry


def test_send_retries_a_refused_connection_then_raises_it() -> None:
    calls: list[int] = []

    def refused() -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused")

    with pytest.raises(httpx.ConnectError):
        send(refused, attempts=2, max_wait=0)
    assert len(calls) == 2
