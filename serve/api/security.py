"""Security headers on every response (ASGI middleware): a strict Content-Security-Policy and its companions.

Pure ASGI, editing only the `http.response.start` message, so a streamed body (Server-Sent Events) passes
through untouched and unbuffered. A response that set a header itself keeps it: the original files
(`/v1/documents/{id}/file`) carry their own `sandbox` policy, and the API docs pages a relaxed one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Only our own scripts, styles and connections; no plugins, no <base>, no framing by other sites.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

DEFAULT_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", STRICT_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Adds `DEFAULT_HEADERS` to each HTTP response that does not already carry them."""

    def __init__(self, app: ASGIApp, *, headers: tuple[tuple[bytes, bytes], ...] = DEFAULT_HEADERS) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in self.headers if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
