"""The embedding model's runtimes on this CPU, side by side: speed, memory and whether quality moved.

    python -m bench.embedding_backends [--datasets ../shared/datasets] [--backends torch onnx onnx-int8]
                                       [--max-docs 0] [--out bench/reports/embedding_backends.json]

For each backend of the main (MiniLM) embedder a fresh subprocess loads the model (an ONNX backend exports or
reuses its cached export first), embeds every corpus of SciFact, CMRC2018 and both XQuAD directions (title and text,
as the BEIR folder has them; the model truncates at its limit) in Docent's batches, then embeds an English
query alone, as a search does. It reports passages/s, its own CPU seconds, the p50/p95 of one query's vector,
and its peak RSS; the parent then scores dense nDCG@10 (exact cosine over the whole corpus, the first 1,000
queries of a set) and the cosine of each vector to torch's float32 vector of the same text. All backends run
in one invocation, one after the other, and the report notes the machine's load.

Targets (issue #23): nDCG@10 within 0.005 of torch's on every set, cosine >= 0.99, and query p50 <= 5 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.common import CACHE, DATASETS, MIB, REPORTS, docent_env, new_report, own_cpu, percentiles, write_report
from retrieval.evaluation import load_beir, ndcg_at

SETS = ("scifact", "cmrc2018", "xquad-zh2en", "xquad-en2zh")
BACKENDS = ("torch", "auto", "onnx", "onnx-int8")
REFERENCE = "torch"
MAX_NDCG_DROP = 0.005
MIN_COSINE = 0.99
MAX_QUERY_P50_MS = 5.0
MAX_QUERIES = 1000  # of a set's queries, the first (CMRC2018 has 3,219)


def _child(backend: str, datasets: Path, max_docs: int, out: Path) -> None:
    """Embed every set with one backend and write the vectors (npz) and the timings (json) to `out`."""
    from retrieval.embedding import SentenceTransformerEmbedder

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    # The reference is torch in float32; "auto" runs its documents in the precision Docent would pick here.
    precision = "float32" if backend == REFERENCE else "auto"
    embedder = SentenceTransformerEmbedder(backend=backend, precision=precision, export_cache=CACHE / "onnx")
    embedder.start()
    load_s = time.perf_counter() - started
    result: dict[str, object] = {"backend": backend, "load_s": round(load_s, 2), "sets": {}}
    arrays: dict[str, np.ndarray] = {}
    for name in SETS:
        data = load_beir(datasets / name, max_queries=MAX_QUERIES)
        corpus = data.corpus[:max_docs] if max_docs else data.corpus
        texts = [f"{d.title}\n{d.text}".strip() for d in corpus]
        cpu, wall = own_cpu(), time.perf_counter()
        arrays[f"{name}/docs"] = embedder.embed_documents(texts)
        wall, cpu = time.perf_counter() - wall, own_cpu() - cpu
        # In batches, for time (MiniLM has no query prefix, so its queries embed as passages do); the single-query
        # path is timed below.
        arrays[f"{name}/queries"] = embedder.embed_documents([q.text for q in data.queries])
        result["sets"][name] = {  # type: ignore[index]
            "docs": len(texts),
            "docs_per_s": round(len(texts) / wall, 1),
            "cpu_s_per_100_docs": round(100 * cpu / len(texts), 2),
        }
    query = "What is the effect of vitamin D on bone density in older adults?"
    embedder.embed_query(query)
    timings = []
    for _ in range(50):
        t = time.perf_counter()
        embedder.embed_query(query)
        timings.append((time.perf_counter() - t) * 1000)
    result["query_ms"] = percentiles(timings, digits=2)
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB)
    result["rss_before_model_mib"] = round(rss_before / MIB)
    np.savez(out.with_suffix(".npz"), **arrays)
    out.write_text(json.dumps(result))


def _interleaved(datasets: Path, backends: list[str], rounds: int = 3) -> dict[str, object]:
    """Every backend in this one process, taking turns round by round on the same 192 SciFact passages and one
    query, so that the machine's load falls on all alike: the speed comparison to trust (the per-set docs/s of the
    children ran at different times)."""
    from retrieval.embedding import SentenceTransformerEmbedder

    texts = [f"{d.title}\n{d.text}".strip() for d in load_beir(datasets / "scifact").corpus[:192]]
    query = "What is the effect of vitamin D on bone density in older adults?"
    variants = {"torch (float32)": ("torch", "float32")} | {b: (b, "auto") for b in backends}
    models = {}
    for label, (backend, precision) in variants.items():
        model = SentenceTransformerEmbedder(backend=backend, precision=precision, export_cache=CACHE / "onnx")
        model.start()
        model.embed_documents(texts[:8])
        models[label] = model
    docs_per_s: dict[str, list[float]] = {label: [] for label in models}
    query_ms: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            t = time.perf_counter()
            model.embed_documents(texts)
            docs_per_s[label].append(round(len(texts) / (time.perf_counter() - t), 1))
            for _ in range(20):
                t = time.perf_counter()
                model.embed_query(query)
                query_ms[label].append((time.perf_counter() - t) * 1000)
    return {
        label: {
            "documents_precision": models[label].effective_precision,
            "docs_per_s": docs_per_s[label],
            "query_ms": percentiles(query_ms[label], digits=2),
        }
        for label in models
    }


def _ndcg(datasets: Path, name: str, docs: np.ndarray, queries: np.ndarray, max_docs: int) -> float:
    data = load_beir(datasets / name, max_queries=MAX_QUERIES)
    ids = [d.doc_id for d in (data.corpus[:max_docs] if max_docs else data.corpus)]
    scores = queries @ docs.T
    top = np.argsort(-scores, axis=1)[:, :10]
    scored = [ndcg_at([ids[i] for i in row], q.relevant, 10) for row, q in zip(top, data.queries, strict=True)]
    return float(np.mean(scored))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Embedding runtimes side by side (see the module docstring).")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--max-docs", type=int, default=0, help="embed only the first N documents of each corpus")
    parser.add_argument("--speed-only", action="store_true", help="only the side-by-side speed (minutes, not an hour)")
    parser.add_argument("--child", nargs=2, metavar=("BACKEND", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=REPORTS / "embedding_backends.json")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.datasets, args.max_docs, Path(args.child[1]))
        return 0
    backends = [REFERENCE] + [b for b in args.backends if b != REFERENCE]
    started = time.perf_counter()
    if args.speed_only:
        report = new_report("embedding_backends", interleaved=_interleaved(args.datasets, backends[1:]))
        write_report(report, args.out, started)
        _print_speed(report)
        return 0
    report = new_report("embedding_backends", datasets=str(args.datasets), max_docs=args.max_docs, backends={})
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="docent-backends-") as work:
        vectors = {}
        for backend in backends:  # exports made before anything is measured: the RSS is a running server's
            if backend != REFERENCE:  # "auto" shares "onnx"'s export
                from retrieval.embedding import SentenceTransformerEmbedder

                SentenceTransformerEmbedder(backend=backend, export_cache=CACHE / "onnx").start()
        for backend in backends:
            out = Path(work) / f"{backend}.json"
            command = [sys.executable, "-m", "bench.embedding_backends", "--datasets", str(args.datasets)]
            command += ["--max-docs", str(args.max_docs), "--child", backend, str(out)]
            with console.status(f"embedding with {backend}"):
                subprocess.run(command, check=True, env=docent_env())
            report["backends"][backend] = json.loads(out.read_text())  # type: ignore[index]
            vectors[backend] = dict(np.load(out.with_suffix(".npz")))
        reference = vectors[REFERENCE]
        for backend in backends:
            entry = report["backends"][backend]  # type: ignore[index]
            for name in SETS:
                docs, queries = vectors[backend][f"{name}/docs"], vectors[backend][f"{name}/queries"]
                cosine = np.concatenate(
                    [
                        np.sum(docs * reference[f"{name}/docs"], axis=1),
                        np.sum(queries * reference[f"{name}/queries"], axis=1),
                    ]
                )
                entry["sets"][name]["ndcg@10"] = round(_ndcg(args.datasets, name, docs, queries, args.max_docs), 4)
                entry["sets"][name]["cosine_mean"] = round(float(cosine.mean()), 4)
                entry["sets"][name]["cosine_min"] = round(float(cosine.min()), 4)
    with console.status("speed, backends taking turns"):
        report["interleaved"] = _interleaved(args.datasets, backends)
    _judge(report)
    write_report(report, args.out, started)
    _print(report)
    console.print(f"report: {args.out}")
    return 0


def _judge(report: dict) -> None:
    reference = report["backends"][REFERENCE]
    for entry in report["backends"].values():
        drops = {n: round(reference["sets"][n]["ndcg@10"] - s["ndcg@10"], 4) for n, s in entry["sets"].items()}
        speedup = {n: round(s["docs_per_s"] / reference["sets"][n]["docs_per_s"], 2) for n, s in entry["sets"].items()}
        entry["vs_torch"] = {"ndcg_drop": drops, "docs_per_s_ratio": speedup}
        entry["targets"] = {
            "ndcg_within_0.005": all(d <= MAX_NDCG_DROP for d in drops.values()),
            "cosine_mean_at_least_0.99": all(s["cosine_mean"] >= MIN_COSINE for s in entry["sets"].values()),
            "query_p50_at_most_5ms": entry["query_ms"]["p50"] <= MAX_QUERY_P50_MS,  # measured alone in its child
        }


def _print(report: dict) -> None:
    table = Table(title="MiniLM on this CPU, by runtime")
    for column in ("backend", "set", "docs/s", "× torch", "nDCG@10", "Δ", "cos mean/min", "query p50 ms", "RSS MiB"):
        table.add_column(column)
    for backend, entry in report["backends"].items():
        for name, s in entry["sets"].items():
            table.add_row(
                backend,
                name,
                str(s["docs_per_s"]),
                str(entry["vs_torch"]["docs_per_s_ratio"][name]),
                str(s["ndcg@10"]),
                str(entry["vs_torch"]["ndcg_drop"][name]),
                f"{s['cosine_mean']}/{s['cosine_min']}",
                str(entry["query_ms"]["p50"]),
                str(entry["peak_rss_mib"]),
            )
    Console().print(table)
    _print_speed(report)


def _print_speed(report: dict) -> None:
    speed = Table(title="Side by side in one process, taking turns (192 SciFact passages, one query)")
    for column in ("backend", "documents in", "docs/s by round", "query p50 / p95 ms"):
        speed.add_column(column)
    for label, entry in report["interleaved"].items():
        q = entry["query_ms"]
        speed.add_row(label, entry["documents_precision"], str(entry["docs_per_s"]), f"{q['p50']} / {q['p95']}")
    Console().print(speed)


if __name__ == "__main__":
    sys.exit(main())
