"""Serving latency and memory: `docent serve` under concurrent clients, with the local model and with an instant one.

    python -m bench.serve_speed [--quick] [--configs local stub] [--clients 1,4,16] [--json bench/reports/serve.json]
    python -m bench.serve_speed --configs stub --clients 4 --runs 5 --baseline ../main   # before vs after

`examples/docs` is ingested (public) into a temporary data folder, then each configuration runs as a real
`docent serve` subprocess on a free port, one after the other on that folder (the embedded index is
single-process, so two servers never share it at once):

- local  the embedded defaults: the SmolLM2-135M GGUF model run in-process by llama.cpp, one answer at a time
- stub-sqlite, stub-postgres   the stub, with every request carrying an API key (anonymous access off), the
         keys (and feedback, audit) in SQLite in the data folder or in a real PostgreSQL server started here from
         Debian's binaries: the database's cost per request, side by side with `stub` (no key, no lookup)
- stub   DOCENT_LLM__BASE_URL pointing at tests/support/openai_stub.py's OpenAIStub, started in this process, which
         answers at once with a sentence of the first passage in the question's language, cited as a model that does
         its job would (`grounded_reply`): what is left is Docent's own overhead (HTTP, query embedding, search,
         packing, grounding, streaming), everything but the model
- stub-unsupported   the stub's fixed sentence that no passage supports: the grounding checks refuse it and the
         extractive answer replaces it (the fallback path: the answer's sentences embedded, then the passages')

Each server is warmed up first (every question searched once, two answers; not measured), then, at 1, 4 and 16
concurrent clients (a thread with its own httpx.Client each): `POST /v1/search` latency, and `POST /v1/ask` with
stream=true: time to the first `delta` event and to the end of the stream, errors (HTTP status other than 200, or
an `error` event) and answer modes (the local model takes turns behind a lock; a request that waits past the read
timeout falls back to an extractive answer, counted under `fallbacks`). Questions cycle through examples/facts.json
(English and Chinese). The server's RSS (its own process, and its children, the parser workers, apart) is read
after startup, after each level, and every 100 requests of a sequential memory run on the local config (search and
extractive asks alternating, a generated ask every 50th request). Each level also records the CPU seconds of the
server, of this process (clients and stub) and of everything else on the machine, and is flagged `contended` when
other processes used more than a quarter of a core. Targets: the stub config's /v1/ask p50 at 4 clients <= 40 ms
and its /v1/search p50 at 4 clients <= 30 ms, in every run; and the local server process's RSS < 1536 MiB and flat
over the memory run. `--quick` (request counts / 5, a memory run of 200) is a smoke run.

`--runs N` measures every configuration N times, each run on a freshly started server (a run-to-run spread of
10 ms at 4 clients is common on two cores), and the overhead targets must hold in each. `--baseline PATH` runs
another checkout's server (e.g. main's) as well, alternating with this one's within each run on the same data
folder, so that a change is compared with its baseline back to back under the same machine load.
Each level also gives the server's CPU milliseconds per search and per ask, steadier than latency on a shared
machine. Writes a JSON report and prints a table; a missed target is reported, not raised.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import httpx
import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from bench.common import (
    CONTENDED_SHARE,
    DOCENT,
    FACTS,
    MIB,
    REPORTS,
    ROOT,
    SAMPLE_DOCS,
    docent_env,
    machine_busy_cpu,
    new_report,
    own_cpu,
    percentiles,
    stderr_console,
    write_report,
)
from retrieval.sentences import split_sentences
from retrieval.terms import detect_language
from tests.support.openai_stub import OpenAIStub

MAX_OVERHEAD_P50_MS = 40.0  # stub config, /v1/ask total, 4 clients, in every run
MAX_SEARCH_P50_MS = 30.0  # stub config, /v1/search, 4 clients, in every run
THIS = "this"  # the label of this checkout's server; the baseline's is "baseline"
MAX_RSS_MIB = 1536
FLAT_TOLERANCE_MIB = 50  # the bench's own reading of "flat": growth from request 100 to the end at most this
READY_TIMEOUT_S = 180
STUB_ASKS = {1: 100, 4: 100, 16: 100}  # the local model answers one at a time: fewer asks
ASK_REQUESTS = {
    **dict.fromkeys(("stub", "stub-unsupported", "stub-sqlite", "stub-postgres"), STUB_ASKS),
    "local": {1: 6, 4: 12, 16: 32},
}
KEYED = ("stub-sqlite", "stub-postgres")
HEADERS: dict[str, str] = {}  # the keyed configs' Authorization header, sent by every client


_PASSAGE = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\] |\n</documents>|\Z)", re.S | re.M)
_MARKUP = re.compile(r"^\s*([#>*|-]|\d+[.)])|[|`*_]{2}|\|")


def grounded_reply(messages: list[dict]) -> str:
    """What a model that does its job writes, at once: one sentence of the first passage in the question's
    language, quoted and cited (`[n]`), so the answer passes the grounding checks and is shown as generated.
    (The stub's default reply, a fixed sentence no passage supports, is replaced by the extractive answer:
    the `stub-unsupported` config measures that path.)"""
    user = messages[-1]["content"]
    documents, _, question = user.rpartition("</documents>")
    language = detect_language(question.split(":", 1)[-1])
    passages = [(int(n), text) for n, text in _PASSAGE.findall(documents)]
    ordered = [p for p in passages if detect_language(p[1]) == language] + passages
    for number, text in ordered:
        for sentence in split_sentences(text):
            if len(sentence.strip()) > 20 and not _MARKUP.search(sentence):
                return f"{sentence.strip()} [{number}]"
    return "The answer is in the first document [1]."


def _rss(pid: int) -> dict[str, float]:
    """RSS in MiB of the server process and, apart, of its children (the parser workers)."""
    process = psutil.Process(pid)
    children = 0
    for child in process.children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            children += child.memory_info().rss
    return {"server_mib": round(process.memory_info().rss / MIB, 1), "children_mib": round(children / MIB, 1)}


def _cpu(pid: int) -> tuple[float, float, float, float]:
    """(now, machine busy CPU s, server tree CPU s, this process's CPU s: client threads and the stub)."""
    tree = 0.0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            c = process.cpu_times()
            tree += c.user + c.system
    return time.perf_counter(), machine_busy_cpu(), tree, own_cpu()


def _cpu_use(before: tuple[float, float, float, float], pid: int) -> dict[str, object]:
    """CPU seconds since `before`: the server's, the bench's, and other processes' (noise: flagged above a quarter
    of a core)."""
    after = _cpu(pid)
    wall, busy, server_s, bench_s = (a - b for a, b in zip(after, before, strict=True))
    other = max(0.0, busy - server_s - bench_s)
    return {
        "wall_s": round(wall, 1),
        "server_s": round(server_s, 1),
        "bench_s": round(bench_s, 1),
        "other_processes_s": round(other, 1),
        "contended": other > CONTENDED_SHARE * wall,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(data_dir: Path, llm: dict[str, str], checkout: Path = ROOT) -> dict[str, str]:
    """A server's environment; its code is `checkout`'s (PYTHONPATH, and its working folder)."""
    return docent_env(
        data_dir,
        drop="DOCENT_LLM__",
        DOCENT_QDRANT__URL="",
        DOCENT_AUTH__ANONYMOUS="false" if HEADERS else "true",
        DOCENT_ANSWER__MODE="generate",
        DOCENT_LIMITS__REQUESTS_PER_MINUTE="1000000",
        DOCENT_LIMITS__BURST="1000000",
        DOCENT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(checkout),
        **llm,
    )


def ingest(data_dir: Path, log_file: Path) -> dict[str, object]:
    started = time.perf_counter()
    with open(log_file, "wb") as log:
        done = subprocess.run(
            [*DOCENT, "ingest", str(SAMPLE_DOCS), "--public", "--json"],
            cwd=ROOT,
            env=_environment(data_dir, {}),
            stdout=subprocess.PIPE,
            stderr=log,
        )
    lines = done.stdout.decode().strip().splitlines()
    if not lines:  # exit 1 with a report means some files failed: the others are indexed, reported below
        raise RuntimeError(f"ingest failed (exit {done.returncode}):\n{log_file.read_text(errors='replace')[-3000:]}")
    report = json.loads(lines[-1])
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "files": report["files"],
        "chunks": report["chunks"],
        "failed": [f"{f['path']}: {f['reason']}" for f in report["failed"]],
    }


def _wait_ready(child: subprocess.Popen, url: str, log_file: Path, started: float) -> None:
    """Poll /readyz until 200; raise with the server log's tail if it exits or takes over READY_TIMEOUT_S."""
    while True:
        if child.poll() is not None:
            problem = f"the server exited with {child.returncode} before it was ready"
        elif time.perf_counter() - started > READY_TIMEOUT_S:
            problem = f"the server was not ready within {READY_TIMEOUT_S} s"
        else:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
            continue
        raise RuntimeError(f"{problem}; log {log_file}:\n{log_file.read_text(errors='replace')[-3000:]}")


@contextmanager
def server(data_dir: Path, llm: dict[str, str], log_file: Path, console: Console, checkout: Path = ROOT):
    """A `docent serve` subprocess running `checkout`'s code, ready; always terminated (and any child it leaves
    behind) on exit."""
    port = _free_port()
    started = time.perf_counter()
    with open(log_file, "wb") as log:
        child = subprocess.Popen(
            [*DOCENT, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=checkout,
            env=_environment(data_dir, llm, checkout),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    family: list[psutil.Process] = []
    try:
        with console.status(f"starting the server (log {log_file.name})"):
            _wait_ready(child, url, log_file, started)
        yield url, child.pid, round(time.perf_counter() - started, 1)
    finally:
        with suppress(psutil.NoSuchProcess):
            family = psutil.Process(child.pid).children(recursive=True)
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        for orphan in family:  # parser workers the server did not get to close
            with suppress(psutil.NoSuchProcess):
                orphan.kill()


def search(client: httpx.Client, question: str) -> dict[str, object]:
    started = time.perf_counter()
    response = client.post("/v1/search", json={"query": question, "k": 10})
    return {
        "ok": response.status_code == 200,
        "status": response.status_code,
        "total_ms": (time.perf_counter() - started) * 1000,
    }


def ask(client: httpx.Client, question: str, mode: str = "generate") -> dict[str, object]:
    """One streamed /v1/ask: time to the first delta event and to the end, the answer's mode, or the error."""
    result: dict[str, object] = {"ok": False, "first_delta_ms": None, "mode": None, "fallback": False}
    started = time.perf_counter()
    with client.stream("POST", "/v1/ask", json={"question": question, "stream": True, "mode": mode}) as response:
        result["status"] = response.status_code
        if response.status_code != 200:
            result["error"] = response.read().decode(errors="replace")[:300]
        event = ""
        for line in response.iter_lines() if response.status_code == 200 else ():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "delta" and result["first_delta_ms"] is None:
                result["first_delta_ms"] = (time.perf_counter() - started) * 1000
            elif line.startswith("data:") and event == "done":
                done = json.loads(line[5:])
                result.update(
                    ok=True,
                    mode=done.get("mode"),
                    fallback=bool(done.get("fallback_reason")),
                    timings=done.get("timings_ms", {}),
                    usage=done.get("usage", {}),
                )
            elif line.startswith("data:") and event == "error":
                result["error"] = json.loads(line[5:]).get("error", {}).get("message")
    result["total_ms"] = (time.perf_counter() - started) * 1000
    result["ok"] = result["ok"] and "error" not in result
    return result


def _safely(call, client: httpx.Client, *args: str) -> dict[str, object]:
    """`call(client, *args)`; a failure (connection dropped, unreadable event) is an error result, not a crash."""
    started = time.perf_counter()
    try:
        return call(client, *args)
    except Exception as exc:
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "total_ms": (time.perf_counter() - started) * 1000,
            "first_delta_ms": None,
            "mode": None,
            "fallback": False,
        }


def run_level(url: str, clients: int, requests: int, call, questions: list[str]) -> list[dict]:
    """`requests` calls of `call(client, question)` spread over `clients` threads, each with its own client."""
    numbers, lock, results = itertools.count(), threading.Lock(), []

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(180, connect=10), headers=HEADERS) as client:
            while True:
                with lock:
                    i = next(numbers)
                if i >= requests:
                    return
                outcome = _safely(call, client, questions[i % len(questions)])
                with lock:
                    results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def summarize(results: list[dict], streamed: bool) -> dict[str, object]:
    ok = [r for r in results if r["ok"]]
    summary: dict[str, object] = {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "total_ms": percentiles([r["total_ms"] for r in ok]),
    }
    if streamed:
        summary["first_delta_ms"] = percentiles([r["first_delta_ms"] for r in ok if r["first_delta_ms"] is not None])
        summary["modes"] = dict(Counter(sorted(r["mode"] for r in ok)))
        summary["fallbacks"] = sum(r["fallback"] for r in ok)
        steps: dict[str, list[float]] = {}  # the server's own timings_ms (retrieve, first_token, generate, ...)
        for r in ok:
            for step, ms in r.get("timings", {}).items():
                steps.setdefault(step, []).append(ms)
        summary["server_timings_p50_ms"] = {k: round(float(np.median(v)), 1) for k, v in sorted(steps.items())}
        tokens = {
            k: [r["usage"][k] for r in ok if r.get("usage", {}).get(k)] for k in ("prompt_tokens", "completion_tokens")
        }
        summary["tokens_p50"] = {k: int(np.median(v)) for k, v in tokens.items() if v}  # the stub's are estimates
    errors = sorted({str(r.get("error") or r.get("status")) for r in results if not r["ok"]})
    if errors:
        summary["error_samples"] = errors[:5]
    return summary


def measure_config(
    name: str, url: str, pid: int, args: argparse.Namespace, questions: list[str], console: Console
) -> dict[str, object]:
    result: dict[str, object] = {"rss_after_startup": _rss(pid)}
    with httpx.Client(base_url=url, timeout=180, headers=HEADERS) as client:  # warm-up, not measured
        for q in questions:
            search(client, q)
        for q in (questions[0], questions[-1]):
            ask(client, q)
    result["rss_after_warmup"] = _rss(pid)
    result["levels"] = {}
    for clients in args.clients:
        n_search = max(math.ceil(args.search_requests / args.divide), clients)
        n_ask = max(math.ceil(ASK_REQUESTS[name].get(clients, 2 * clients) / args.divide), clients)
        cpu = _cpu(pid)
        with console.status(f"{name} · {clients} clients · {n_search} searches"):
            searches = summarize(run_level(url, clients, n_search, search, questions), streamed=False)
        between = _cpu(pid)
        with console.status(f"{name} · {clients} clients · {n_ask} asks"):
            started = time.perf_counter()
            asks = summarize(run_level(url, clients, n_ask, ask, questions), streamed=True)
            asks["wall_s"] = round(time.perf_counter() - started, 1)
        # The server's CPU per request: steadier than latency when other processes share the cores.
        searches["server_cpu_ms"] = round(1000 * (between[2] - cpu[2]) / n_search, 1)
        asks["server_cpu_ms"] = round(1000 * (_cpu(pid)[2] - between[2]) / n_ask, 1)
        result["levels"][str(clients)] = {
            "search": searches,
            "ask": asks,
            "rss_after": _rss(pid),
            "cpu": _cpu_use(cpu, pid),
        }
        console.print(
            f"{name} · {clients} clients: search p50 {(searches['total_ms'] or {}).get('p50')} ms "
            f"(server CPU {searches['server_cpu_ms']} ms each), ask p50 {(asks['total_ms'] or {}).get('p50')} ms "
            f"(server CPU {asks['server_cpu_ms']} ms each), errors {searches['errors']}+{asks['errors']}, "
            f"modes {asks['modes']}"
        )
    return result


@contextmanager
def keyed(name: str, temp: Path):
    """For the keyed configs: the database (`DOCENT_DATABASE_URL`, or the data folder's SQLite) and a read key in
    it, sent by every client; nothing for the others."""
    from serve.stores.database import Database, sqlite_url
    from serve.stores.keys import KeyStore
    from tests.support.postgres_server import PostgresServer

    if name not in KEYED:
        yield {}
        return
    with PostgresServer(temp / "postgres") if name == "stub-postgres" else nullcontext() as pg:
        url = pg.url if pg else sqlite_url(temp / "data" / "docent.sqlite")
        database = Database(url)
        database.upgrade()
        key, _ = KeyStore(database).create("bench", ("staff",))
        database.close()
        HEADERS["Authorization"] = f"Bearer {key}"
        try:
            yield {"DOCENT_DATABASE_URL": url} if pg else {}
        finally:
            HEADERS.clear()


def run_config(
    name: str,
    temp: Path,
    args: argparse.Namespace,
    questions: list[str],
    console: Console,
    *,
    checkout: Path = ROOT,
    label: str = THIS,
) -> dict:
    """One configuration: its server (`checkout`'s code) started on the shared data folder, measured, and stopped."""
    with OpenAIStub() if name.startswith("stub") else nullcontext() as stub, keyed(name, temp) as database:
        llm = {"DOCENT_LLM__BASE_URL": stub.url, "DOCENT_LLM__MODEL": "stub"} if stub else {}
        if stub and name != "stub-unsupported":
            stub.script.reply = grounded_reply
        llm.update(database)
        log_file = temp / f"server-{label}-{name}.log"
        with server(temp / "data", llm, log_file, console, checkout) as (url, pid, startup_s):
            console.print(f"{label} · {name}: ready in {startup_s} s, RSS {_rss(pid)}")
            result = {"startup_s": startup_s, **measure_config(name, url, pid, args, questions, console)}
            if name == "local" and args.memory_requests:
                result["memory_run"] = memory_run(url, pid, args.memory_requests, questions, console)
    return result


def memory_run(url: str, pid: int, requests: int, questions: list[str], console: Console) -> dict[str, object]:
    """Sequential: search and extractive asks alternating, a generated ask every 50th; RSS every 100 requests."""
    samples, latencies, errors, cpu = [], {"search": [], "ask_extractive": [], "ask_generate": []}, 0, _cpu(pid)
    with httpx.Client(base_url=url, timeout=180) as client, console.status("memory run") as status:
        for i in range(1, requests + 1):
            q = questions[i % len(questions)]
            if i % 50 == 0:
                kind, outcome = "ask_generate", _safely(ask, client, q, "generate")
            elif i % 2:
                kind, outcome = "search", _safely(search, client, q)
            else:
                kind, outcome = "ask_extractive", _safely(ask, client, q, "extractive")
            errors += not outcome["ok"]
            latencies[kind].append(outcome["total_ms"])
            if i % 100 == 0 or i == requests:
                samples.append({"request": i, **_rss(pid)})
                status.update(f"memory run · {i}/{requests} · server RSS {samples[-1]['server_mib']} MiB")
    return {
        "requests": requests,
        "errors": errors,
        "latency_ms": {k: percentiles(v) for k, v in latencies.items()},
        "cpu": _cpu_use(cpu, pid),
        "samples": samples,
        "growth_mib": round(samples[-1]["server_mib"] - samples[0]["server_mib"], 1),
        "growth_from_request": samples[0]["request"],
    }


def _pair(d: dict | None) -> str:
    return f"{d['p50']:.0f} / {d['p95']:.0f}" if d else "-"


def _measured(report: dict) -> list[tuple[int, str, str, dict]]:
    """(run, checkout, config, result) for every configuration measured, in the order they ran."""
    return [
        (run["run"], label, name, config)
        for run in report["runs"]
        for label, configs in run["checkouts"].items()
        for name, config in configs.items()
    ]


def overhead(report: dict) -> dict[str, object]:
    """Per checkout, the stub config's /v1/ask and /v1/search p50 at 4 clients in each run, and whether every run
    met both targets (None: not measured)."""
    found: dict[str, dict[str, list[float | None]]] = {}
    for _, label, name, config in _measured(report):
        if name != "stub":
            continue
        level = config.get("levels", {}).get("4", {})
        numbers = found.setdefault(label, {"ask_p50_ms": [], "search_p50_ms": []})
        numbers["ask_p50_ms"].append((level.get("ask", {}).get("total_ms") or {}).get("p50"))
        numbers["search_p50_ms"].append((level.get("search", {}).get("total_ms") or {}).get("p50"))
    for numbers in found.values():
        asks, searches = numbers["ask_p50_ms"], numbers["search_p50_ms"]
        numbers["pass"] = (
            None
            if not asks or None in asks + searches
            else all(a <= MAX_OVERHEAD_P50_MS for a in asks) and all(s <= MAX_SEARCH_P50_MS for s in searches)
        )
    return {"target_ask_p50_ms": MAX_OVERHEAD_P50_MS, "target_search_p50_ms": MAX_SEARCH_P50_MS, **found}


def memory_summary(local: dict) -> dict[str, object]:
    """The local config's RSS readings against the memory targets."""
    memory: dict[str, object] = {"target_mb": MAX_RSS_MIB, "flat_tolerance_mib": FLAT_TOLERANCE_MIB}
    if not local:
        return memory
    seen = [
        local["rss_after_startup"],
        local["rss_after_warmup"],
        *(lv["rss_after"] for lv in local["levels"].values()),
        *local.get("memory_run", {}).get("samples", []),
    ]
    run = local.get("memory_run", {})
    memory.update(
        after_startup=local["rss_after_startup"],
        max_server_mib=max(s["server_mib"] for s in seen),
        max_children_mib=max(s["children_mib"] for s in seen),
        max_tree_mib=round(max(s["server_mib"] + s["children_mib"] for s in seen), 1),
        samples=run.get("samples"),
        growth_mib=run.get("growth_mib"),
        growth_from_request=run.get("growth_from_request"),
    )
    memory["pass_under"] = memory["max_server_mib"] < MAX_RSS_MIB
    memory["pass_flat"] = run.get("growth_mib") is not None and run["growth_mib"] <= FLAT_TOLERANCE_MIB
    return memory


def _verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL"}.get(passed, "not measured")  # type: ignore[arg-type]


def print_table(console: Console, report: dict) -> None:
    table = Table(title="Serving benchmark: ms, p50 / p95")
    compared = len(report["runs"][0]["checkouts"]) > 1
    for column in (
        "run",
        *(("checkout",) if compared else ()),
        "config",
        "clients",
        "search",
        "ask: 1st delta",
        "ask: total",
        "server CPU ms: search / ask",
        "asks",
        "errors",
        "modes (fallbacks)",
        "server RSS MiB",
        "other CPU s",
    ):
        table.add_column(column, justify="left" if column in ("checkout", "config", "modes (fallbacks)") else "right")
    contended = []
    for run, label, name, config in _measured(report):
        for clients, level in config.get("levels", {}).items():
            s, a, cpu = level["search"], level["ask"], level["cpu"]
            modes = ", ".join(f"{m} {n}" for m, n in a["modes"].items()) + f" ({a['fallbacks']})"
            table.add_row(
                str(run),
                *((label,) if compared else ()),
                name,
                clients,
                _pair(s["total_ms"]),
                _pair(a["first_delta_ms"]),
                _pair(a["total_ms"]),
                f"{s.get('server_cpu_ms', '-')} / {a.get('server_cpu_ms', '-')}",
                str(a["requests"]),
                f"{s['errors']}+{a['errors']}",
                modes,
                str(level["rss_after"]["server_mib"]),
                str(cpu["other_processes_s"]),
                style="yellow" if cpu["contended"] else None,
            )
            if cpu["contended"]:
                contended.append(f"run {run} {label} {name}/{clients}")
    console.print(table)
    o = report["overhead_ms"]
    for label in (THIS, "baseline"):
        if label in o:
            numbers = o[label]
            console.print(
                f"Docent's overhead ({label}, stub, p50 at 4 clients, per run): /v1/ask {numbers['ask_p50_ms']} ms "
                f"(target ≤ {o['target_ask_p50_ms']}), /v1/search {numbers['search_p50_ms']} ms "
                f"(target ≤ {o['target_search_p50_ms']}), both met in every run → {_verdict(numbers['pass'])}"
            )
    m = report["memory"]
    if "max_server_mib" in m:
        console.print(
            f"memory (local): server RSS after startup {m['after_startup']['server_mib']} MiB, max "
            f"{m['max_server_mib']} MiB (target < {m['target_mb']}) → {'PASS' if m['pass_under'] else 'FAIL'}; "
            f"parser worker(s) {m['max_children_mib']} MiB more; growth from request "
            f"{m['growth_from_request']} to the end of the memory run {m['growth_mib']} MiB (tolerance "
            f"{FLAT_TOLERANCE_MIB}) → {'PASS' if m['pass_flat'] else 'FAIL'}"
        )
    runs = [c.get("memory_run") for _, label, name, c in _measured(report) if label == THIS and name == "local"]
    if runs and runs[0]:
        console.print(
            "memory run latency: "
            + ", ".join(f"{k} {_pair(v)} ms" for k, v in runs[0]["latency_ms"].items())
            + f"; errors {runs[0]['errors']}"
        )
    if contended:
        console.print(
            f"[yellow]warning: other processes were busy during {', '.join(contended)} (yellow rows; "
            "see cpu.other_processes_s): those latencies are noisy[/yellow]"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serving benchmark (see the module docstring).")
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=("local", "stub", "stub-unsupported", "stub-sqlite", "stub-postgres"),
        default=["local", "stub"],
    )
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels, comma-separated (default 1,4,16)")
    parser.add_argument("--search-requests", type=int, default=200, help="/v1/search requests per level (default 200)")
    parser.add_argument("--memory-requests", type=int, default=1000, help="requests of the memory run (local; 0: none)")
    parser.add_argument("--runs", type=int, default=1, help="measure everything this many times (default 1)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout (e.g. ../main) whose server is measured too, alternating"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: request counts / 5, memory run of 200")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (data, server logs)")
    parser.add_argument("--json", type=Path, default=REPORTS / "serve.json", help="report file")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    args.divide = 5 if args.quick else 1
    if args.quick and args.memory_requests == 1000:
        args.memory_requests = 200
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    checkouts = [(THIS, ROOT)]
    if args.baseline is not None:
        baseline = args.baseline.resolve()
        if not (baseline / "serve" / "cli" / "__main__.py").is_file():
            parser.error(f"--baseline {baseline} is not a Docent checkout")
        checkouts.append(("baseline", baseline))

    console = stderr_console()
    started = time.perf_counter()
    questions = [f["question"] for f in json.loads(FACTS.read_text())]
    report = new_report(
        "serve",
        config={
            "configs": args.configs,
            "clients": args.clients,
            "quick": args.quick,
            "runs": args.runs,
            "checkouts": {label: str(path) for label, path in checkouts},
            "search_requests": args.search_requests,
            "ask_requests": ASK_REQUESTS,
            "divide": args.divide,
            "memory_requests": args.memory_requests,
            "questions": len(questions),
        },
        runs=[],
    )
    temp = Path(tempfile.mkdtemp(prefix="docent-bench-serve-"))
    keep = args.keep
    try:
        with console.status("ingesting examples/docs"):
            report["ingest"] = ingest(temp / "data", temp / "ingest.log")
        console.print(f"ingested: {report['ingest']}")
        for number in range(1, args.runs + 1):
            run: dict[str, object] = {"run": number, "checkouts": {}}
            report["runs"].append(run)
            # Alternating which checkout goes first cancels a drift of the machine's load over the runs.
            for label, checkout in checkouts if number % 2 else checkouts[::-1]:
                measured: dict[str, object] = {}
                run["checkouts"][label] = measured  # type: ignore[index]
                for name in args.configs:
                    measured[name] = run_config(name, temp, args, questions, console, checkout=checkout, label=label)
    except BaseException:
        keep = True  # the logs of what failed
        raise
    finally:
        if keep:
            console.print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)

    report["configs"] = report["runs"][0]["checkouts"][THIS]  # the first run of this checkout, as before --runs
    report["overhead_ms"] = overhead(report)
    report["memory"] = memory_summary(report["configs"].get("local", {}))
    write_report(report, args.json, started)
    print_table(console, report)
    console.print(f"report: {args.json} · bench wall {report['bench_wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
