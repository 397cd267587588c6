"""The web page's speed: from the API sending a piece of an answer to the page showing it, and what the page weighs.

    python -m bench.page_latency [--questions 6] [--json bench/reports/page_latency.json]

`examples/docs` is ingested (public) into a temporary data folder; the API server is the composition root's own
(`serve.composition.api_server`, the embedded defaults: SmolLM2-135M in-process) run by uvicorn in this process,
wrapped in a recorder that notes the wall-clock time each chunk of a `/v1/ask` stream is handed to the socket and how
many `delta` events it holds. Headless Chromium (Debian's) opens the page and asks each question; the page itself
marks when it read each delta and measures `delta-to-screen` at the animation frame that shows it
(`performance.measure`). Pairing the n-th delta sent with the n-th measured gives, per delta, side by side:

- send -> read      the network and the stream parser (the browser's fetch reader)
- read -> screen    rendering (Markdown, sanitizer, DOM) up to the frame that shows it
- send -> screen    the whole: the target is p95 < 100 ms, the first delta of each answer included

The answers' checks are turned off for the run (`DOCENT_ANSWER__REPLACE_FAILED=false`): with them on, an answer is
checked whole before its first delta leaves, so there is one delta per answer; off, the model's tokens stream, which is
what strains the page. The page weight is the bytes of every response of a page load (HTML, scripts, styles, icon),
before compression; the target is < 150 KB. Writes a JSON report; a missed target is reported, not raised.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import FACTS, REPORTS, SAMPLE_DOCS, new_report, percentiles, stderr_console, write_report

CHROMIUM = "/usr/bin/chromium"
TARGET_MS = 100.0
TARGET_WEIGHT = 150_000


class SendClock:
    """ASGI middleware: for each `/v1/ask` response, the wall-clock ms at which each body chunk was handed on and the
    number of `delta` events in it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/ask":
            await self.app(scope, receive, send)
            return

        async def timed(message: dict) -> None:
            await send(message)
            if message["type"] == "http.response.body":
                deltas = message.get("body", b"").count(b"event: delta")
                if deltas:
                    with self._lock:
                        self.sent.append((time.time() * 1000, deltas))

        await self.app(scope, receive, timed)

    def take(self) -> list[float]:
        """The send time of each delta since the last call, in order."""
        with self._lock:
            sent, self.sent = self.sent, []
        return [at for at, count in sent for _ in range(count)]


@contextmanager
def serving(data_dir: Path) -> Iterator[tuple[str, SendClock]]:
    os.environ.update(
        DOCENT_DATA_DIR=str(data_dir),
        DOCENT_AUTH__ANONYMOUS="true",
        DOCENT_ANSWER__REPLACE_FAILED="false",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    from serve.composition import api_server
    from serve.settings import Settings
    from tests.support.live_server import LiveServer

    with api_server(Settings()) as server:
        clock = SendClock(server.app)
        with LiveServer(clock) as live:
            yield live.url, clock


def ingest(data_dir: Path) -> None:
    import subprocess
    import sys

    from bench.common import ROOT, docent_env

    subprocess.run(
        [sys.executable, "-m", "serve.cli", "ingest", str(SAMPLE_DOCS), "--public", "--json"],
        cwd=ROOT,
        env=docent_env(data_dir, drop="DOCENT_"),
        check=True,
        capture_output=True,
    )


def measure(url: str, clock: SendClock, questions: list[str]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    weights: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("response", lambda r: weights.setdefault(r.url, len(r.body())) if "/v1/" not in r.url else None)
        page.goto(url + "/")
        page.wait_for_selector("#question", state="visible")
        page.wait_for_load_state("networkidle")
        weight = sum(weights.values())
        for question in questions:
            page.click("#new-conversation")
            clock.take()
            page.evaluate("performance.clearMeasures('delta-to-screen')")
            page.fill("#question", question)
            page.click("#ask-submit")
            page.wait_for_selector(".answer:not([data-state=streaming])", timeout=180_000)
            shown = page.evaluate(
                "performance.getEntriesByName('delta-to-screen').map(e => "
                "[performance.timeOrigin + e.startTime, performance.timeOrigin + e.startTime + e.duration])"
            )
            sent = clock.take()
            state = page.get_attribute(".answer", "data-state")
            if len(sent) != len(shown):  # cannot pair them: report, don't guess
                rows.append({"question": question, "state": state, "sent": len(sent), "shown": len(shown)})
                continue
            rows.append(
                {
                    "question": question,
                    "state": state,
                    "deltas": len(sent),
                    "send_to_read_ms": [round(read - s, 2) for s, (read, _) in zip(sent, shown, strict=True)],
                    "read_to_screen_ms": [round(screen - read, 2) for read, screen in shown],
                    "send_to_screen_ms": [round(screen - s, 2) for s, (_, screen) in zip(sent, shown, strict=True)],
                }
            )
        browser.close()
    return {
        "page_weight_bytes": weight,
        "page_files": {u.rsplit("/", 1)[-1] or "/": n for u, n in weights.items()},
        "answers": rows,
    }


def summarize(measured: dict[str, Any]) -> dict[str, Any]:
    paired = [r for r in measured["answers"] if "deltas" in r]
    every = {
        key: [v for r in paired for v in r[key]]
        for key in ("send_to_read_ms", "read_to_screen_ms", "send_to_screen_ms")
    }
    first = [r["send_to_screen_ms"][0] for r in paired if r["send_to_screen_ms"]]
    whole = percentiles(every["send_to_screen_ms"], (50, 95, 100), digits=2)
    return {
        "answers": len(measured["answers"]),
        "unpaired": [r for r in measured["answers"] if "deltas" not in r],
        "deltas": len(every["send_to_screen_ms"]),
        **{key: percentiles(values, (50, 95, 100), digits=2) for key, values in every.items()},
        "first_delta_send_to_screen_ms": percentiles(first, (50, 95, 100), digits=2),
        "targets": {
            "send_to_screen_p95_under_100_ms": bool(whole and whole["p95"] < TARGET_MS),
            "page_weight_under_150_kb": measured["page_weight_bytes"] < TARGET_WEIGHT,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=6, help="how many questions of examples/facts.json")
    parser.add_argument("--json", type=Path, default=REPORTS / "page_latency.json")
    args = parser.parse_args(argv)
    console = stderr_console()
    started = time.perf_counter()
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    questions = [f["question"] for f in facts][: args.questions]
    temp = Path(tempfile.mkdtemp(prefix="docent-page-"))
    try:
        with console.status("ingesting examples/docs"):
            ingest(temp / "data")
        with console.status("serving and asking through the page"), serving(temp / "data") as (url, clock):
            measured = measure(url, clock, questions)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    report = new_report("page_latency", summary=summarize(measured), **measured)
    write_report(report, args.json, started)
    console.print_json(data=report["summary"])
    console.print(f"page weight: {measured['page_weight_bytes']:,} bytes; report: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
