"""Sending one HTTP request to a service that throttles (Confluence, Microsoft Graph): a 429 or 503 answer with
`Retry-After` is retried a bounded number of times, waiting what the service asks (capped), and a connection that
fails is retried with a short back-off. tenacity runs the loop; this module only says when and how long.

The caller gets the last response whatever its status (a 429 after the last try included) and decides what it
means: a listing that is still throttled is `SourceUnavailableError`, a fetch is a transient `FetchError`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, retry_if_result, stop_after_attempt

THROTTLED = frozenset({429, 503})


def retry_after(headers: Mapping[str, str], *, default: float, cap: float) -> float:
    """Seconds the service asks to wait: `Retry-After` as seconds or an HTTP date, `default` without one.
    `headers` may be a plain mapping (a Graph batch's sub-response), so the name is matched in any case."""
    value = next((str(v) for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    seconds = default
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = default
    return min(max(seconds, 0.0), cap)


def send(
    request: Callable[[], httpx.Response],
    *,
    attempts: int = 5,
    max_wait: float = 30.0,
    statuses: Collection[int] = THROTTLED,
) -> httpx.Response:
    """`request()` (one call on the caller's client) retried while it answers a status in `statuses` or fails
    to connect, at most `attempts` times in all; raises the last `httpx.TransportError` when every try failed."""

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            response: httpx.Response = outcome.result()
            return retry_after(response.headers, default=1.0, cap=max_wait)
        return min(0.5 * 2.0 ** (state.attempt_number - 1), max_wait)  # a refused or reset connection

    retrying = Retrying(
        retry=retry_if_result(lambda response: response.status_code in statuses)
        | retry_if_exception_type(httpx.TransportError),
        wait=wait,
        stop=stop_after_attempt(attempts),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome is not None else None,
        reraise=True,
    )
    last: httpx.Response = retrying(request)
    return last
