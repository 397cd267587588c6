"""The upload size limit, enforced while the body arrives (ASGI middleware).

A request that declares a `Content-Length` over the limit is refused before a byte of it is read. One that does
not declare it (chunked) is counted as it streams; at the limit, reading stops and whatever the app would have
answered is replaced by the 413. Either way the server never buffers more than the limit to find out.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.errors import ErrorCode


class BodyTooLarge(Exception):
    """Raised inside `receive` when a streamed body passes the limit; the app's answer is then discarded."""


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, limits: dict[str, int], render: Callable[[str, str, str, str], dict[str, object]]
    ) -> None:
        self.app = app
        self.limits = limits  # path prefix -> bytes
        self.render = render

    def _limit(self, scope: Scope) -> int | None:
        if scope["type"] != "http" or scope["method"] not in {"POST", "PUT", "PATCH"}:
            return None
        return next((n for prefix, n in self.limits.items() if scope["path"].startswith(prefix)), None)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        request_id = scope.get("state", {}).get("request_id", "")
        message = f"the upload is larger than the limit of {limit / 1048576:.1f} MiB (DOCENT_LIMITS__MAX_UPLOAD_MB)"
        body = json.dumps(
            self.render(message, "invalid_request_error", str(ErrorCode.PAYLOAD_TOO_LARGE), request_id)
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit(scope)
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if not exceeded:
                await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded:
            await self._refuse(scope, send, limit)
