"""`docent` as its users run it: the CLI in a subprocess, and `docent serve` on a free port.

Shared by the soak (tests/reliability/soak.py) and the browser tests (tests/browser/), which need a real server
process over a data directory that the CLI prepared, not an app in the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.llama_servers import free_port

ROOT = Path(__file__).resolve().parents[2]

# Short answers and no rate limits: the tests are about Docent, not about how long a 135M model can ramble.
QUICK_SERVER = {
    "DOCENT_LLM__LOCAL_MAX_ANSWER_TOKENS": "48",
    "DOCENT_LLM__LOCAL_CONTEXT_LENGTH": "512",
    "DOCENT_LIMITS__REQUESTS_PER_MINUTE": "100000",
    "DOCENT_LIMITS__BURST": "100000",
    "DOCENT_LIMITS__AUTH_FAILURE_BURST": "20",
    "DOCENT_ANSWER__DEADLINE_S": "60",  # clients take turns on one CPU model
}


def docent_env(data: Path, **extra: str) -> dict[str, str]:
    """This process's environment without its DOCENT_* settings, with `data` as the data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCENT_")}
    env.update({"DOCENT_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}, **extra)
    return env


def cli(data: Path, *args: str) -> str:
    """Run `docent <args>` over `data`; its standard output (RuntimeError with its stderr when it fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "serve.cli", *args],
        env=docent_env(data),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"docent {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


class Server:
    """`docent serve` on a free port over `data` (indexed beforehand), with QUICK_SERVER's settings and `settings`
    (DOCENT_* variables) over them; ready (GET /readyz is 200) once entered."""

    def __init__(self, data: Path, log: Path, **settings: str) -> None:
        self.data, self.log, self.settings = data, log, settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serve.cli", "serve", "--port", str(self.port)],
            env=docent_env(self.data, **{**QUICK_SERVER, **self.settings}),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"docent serve did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
