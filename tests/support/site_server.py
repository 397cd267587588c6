"""A small website under the test's control, served over real HTTP from a thread: pages by path (changed,
removed or added while it runs), redirects, throttling (429 with Retry-After) and server errors, and a log of
every request with its Host header and time, so a test sees what a crawler asked for and when.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True  # False: the body ends when the connection closes (no Content-Length)


@dataclass(frozen=True)
class Request:
    host: str
    path: str  # percent-decoded, query included
    at: float  # time.monotonic()


class SiteServer:
    """Serves `pages` by percent-decoded path; `redirects` answer 302 with their Location; `throttle[path] = n`
    answers the next n requests for path with 429 and `Retry-After: 1`."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.redirects: dict[str, str] = {}
        self.throttle: dict[str, int] = {}
        self.requests: list[Request] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = unquote(self.path)
                owner.requests.append(Request(self.headers.get("Host", ""), path, time.monotonic()))
                if owner.throttle.get(path, 0) > 0:
                    owner.throttle[path] -= 1
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path in owner.redirects:
                    self.send_response(302)
                    self.send_header("Location", owner.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                page = owner.pages.get(path)
                if page is None:
                    page = Page(b"<html><body>Not found</body></html>", status=404)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                if page.content_length:
                    self.send_header("Content-Length", str(len(page.body)))
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for start in range(0, len(page.body), 65536):
                        self.wfile.write(page.body[start : start + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (a page over its limit)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="site-server"
        )

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [request.path for request in self.requests]
