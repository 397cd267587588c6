"""A scripted OpenAI-compatible chat server on 127.0.0.1, for what a real model cannot be made to do on cue.

It speaks the protocol vLLM speaks (`POST /v1/chat/completions`, whole or as `data:` events ending in
`data: [DONE]`, and `GET /v1/models`) and records every request, so tests can check the prompt Docent sent. The
reply, a delay before it, a delay between streamed pieces and a connection dropped after N pieces are set per
test. `bench/serve.py` uses it as the instant generator that isolates Docent's own overhead.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    reply: Callable[[list[dict]], str] = lambda messages: "The answer is in the first document [1]."
    delay_s: float = 0.0  # before answering
    piece_delay_s: float = 0.0  # between streamed pieces
    drop_after: int | None = None  # close the connection after this many streamed pieces
    requests: list[dict] = field(default_factory=list)
    # For each streamed request its client closed early, the pieces that were sent and when the stub saw it.
    abandoned: list[tuple[int, float]] = field(default_factory=list)
    streaming: int = 0  # streamed requests being written now


def capped(text: str, max_tokens: int | None) -> tuple[str, str]:
    """The reply cut to `max_tokens` (a word counts as one token here), and its finish reason, as a server does."""
    words = re.findall(r"\S+\s*", text)
    if max_tokens is not None and len(words) > max_tokens:
        return "".join(words[:max_tokens]).rstrip(), "length"
    return text, "stop"


class OpenAIStub:
    def __init__(self) -> None:
        self.script = Script()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._json(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script = stub.script
                script.requests.append(body)
                time.sleep(script.delay_s)
                text, finish = capped(script.reply(body["messages"]), body.get("max_tokens"))
                if not body.get("stream"):
                    self._json(
                        200,
                        {
                            "model": "stub",
                            "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                            "usage": {"prompt_tokens": 100, "completion_tokens": len(text.split())},
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                script.streaming += 1
                try:
                    self._stream(script, text, finish)
                except (BrokenPipeError, ConnectionResetError):  # the client went away: stop, as vLLM does
                    script.abandoned.append((self.sent, time.monotonic()))
                finally:
                    script.streaming -= 1
                self.close_connection = True

            def _stream(self, script: Script, text: str, finish: str) -> None:
                self.sent = 0
                for n, piece in enumerate(re.findall(r"\S+\s*|\s+", text)):
                    if script.drop_after is not None and n >= script.drop_after:
                        self.wfile.flush()
                        self.connection.shutdown(2)  # the model server died mid-answer
                        return
                    event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    self.sent = n + 1
                    time.sleep(script.piece_delay_s)
                last = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _json(self, status: int, data: object) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
