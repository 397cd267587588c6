"""An app served by a real uvicorn on 127.0.0.1, in a thread of the test process.

FastAPI's TestClient calls the app directly: a client that goes away mid-stream cannot be tested with it. A real
server on a real socket can be left the way a browser tab or `curl --max-time 1` leaves it, while the test keeps
the models it has already loaded (a `docent serve` subprocess would load them again).
"""

from __future__ import annotations

import threading
import time

import uvicorn

from tests.support.llama_servers import free_port


class LiveServer:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True, name="live-server")

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)


def wait_until(condition, timeout_s: float, interval_s: float = 0.02) -> bool:
    """Whether `condition()` became true within `timeout_s`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())
