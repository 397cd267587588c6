"""Many Microsoft Graph GET requests in few round trips: JSON batching (`POST /$batch`, at most 20 requests each).

The SharePoint connector asks every file's permissions; one request per file would make a sync of 10,000 files
wait on 10,000 round trips. A batch answers each request apart, so a request throttled inside a batch (429/503
with its own `Retry-After`) is sent again in a later batch after the longest wait asked (capped), a bounded
number of times; any other failure of one request fails the whole listing (`SourceUnavailableError`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ingest.connectors.base import SourceUnavailableError
from ingest.connectors.throttling import THROTTLED, retry_after

Json = dict[str, Any]
MAX_REQUESTS = 20  # Graph's limit per batch


def get_many(post: Callable[[Json], Json], paths: Sequence[str], *, attempts: int, max_wait: float) -> dict[str, Json]:
    """The JSON body of `GET <path>` for each of `paths` (relative to the Graph version: "/drives/..."), asked
    through `post`, which sends one batch body to `/$batch` and returns the batch's parsed answer (raising what
    the caller decides for the batch request itself: refused, throttled past its retries)."""
    bodies: dict[str, Json] = {}
    for start in range(0, len(paths), MAX_REQUESTS):
        pending = list(paths[start : start + MAX_REQUESTS])
        for attempt in range(1, attempts + 1):
            answer = post({"requests": [{"id": str(n), "method": "GET", "url": p} for n, p in enumerate(pending)]})
            throttled: list[str] = []
            wait = 0.0
            for response in answer.get("responses", []):
                path, status = pending[int(response["id"])], int(response.get("status", 0))
                if status == 200:
                    bodies[path] = response.get("body") or {}
                elif status in THROTTLED:
                    throttled.append(path)
                    wait = max(wait, retry_after(response.get("headers") or {}, default=1.0, cap=max_wait))
                else:
                    raise SourceUnavailableError(f"Microsoft Graph: {path} answered {status} (in a batch)")
            missing = [path for path in pending if path not in bodies and path not in throttled]
            if missing:
                raise SourceUnavailableError(f"Microsoft Graph: a batch left out {len(missing)} of its requests")
            if not throttled:
                break
            if attempt == attempts:
                raise SourceUnavailableError(f"Microsoft Graph: {len(throttled)} requests still throttled (429/503)")
            time.sleep(wait)
            pending = throttled
    return bodies
