"""A local stand-in for Slack's Web API (https://slack.com/api/<method>) that records what the bot sends.

Slack's servers cannot be reached from here; this speaks the same protocol (form, query or JSON arguments,
`{"ok": ...}` answers, 429 with Retry-After) for the methods the bot calls."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

BOT_USER = "UBOT"


class SlackMock:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.emails: dict[str, str] = {}
        self.replies: dict[tuple[str, str], list[dict]] = {}
        self.rate_limit: dict[str, int] = {}  # method -> how many calls to answer 429 first
        self._lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                url = urlsplit(self.path)
                method = url.path.rsplit("/", 1)[-1]
                args = dict(parse_qsl(url.query))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if raw:
                    if "json" in (self.headers.get("Content-Type") or ""):
                        args.update(json.loads(raw))
                    else:
                        args.update(dict(parse_qsl(raw)))
                status, body, headers = mock.answer(method, args)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def answer(self, method: str, args: dict) -> tuple[int, dict, dict]:
        with self._lock:
            self.calls.append((method, args))
            if self.rate_limit.get(method, 0) > 0:
                self.rate_limit[method] -= 1
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}
        if method == "auth.test":
            return 200, {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": "T1", "user": "docent"}, {}
        if method == "users.info":
            user = args.get("user", "")
            return 200, {"ok": True, "user": {"id": user, "profile": {"email": self.emails.get(user, "")}}}, {}
        if method == "conversations.replies":
            return 200, {"ok": True, "messages": self.replies.get((args.get("channel"), args.get("ts")), [])}, {}
        if method == "chat.postMessage":
            return 200, {"ok": True, "channel": args.get("channel"), "ts": f"{time.time():.6f}"}, {}
        return 200, {"ok": True}, {}

    def sent(self, method: str) -> list[dict]:
        with self._lock:
            return [args for m, args in self.calls if m == method]

    def __enter__(self) -> SlackMock:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
