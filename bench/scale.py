"""A million chunks in the embedded index: build time, search latency, recall, memory and reopen time of each
storage layout, to choose the layout by measurement (issue 23).

    python -m bench.scale [--size 1000000] [--layouts cold,int8] [--queries 200] [--recall-queries 100]
                          [--data-dir bench/.cache] [--rebuild] [--json FILE]

The built indexes stay in the data folder (a few GiB each at 1M) so that a rerun only measures.

The corpus is bench/search.py's (real MiniLM vectors of a pool of real chunks, noisy re-normalized copies past
the pool, BM25 vectors of the real texts, ten chunks a document, an ACL mix under which the measured principal
sees about 7 % of the documents), plus what every chunk carries by default since #10: the multilingual USE vector
(the pool's real USE vectors, copied with the same noise). Chunks are written in bulk through `EdgeIndex.upsert`
(10,000 at a time; `replace_document` per document would add a delete per document) and then `optimize()`d,
which builds the HNSW graphs; both are timed.

Each layout is one way of storing the dense vectors (see LAYOUTS), built into its own folder and cached there.
Each is measured in a fresh child process that imports only the index (no model), so its memory is the index's
alone (VmRSS after opening, after the searches, and the peak, beside the process's own baseline):

- open: time for `EdgeIndex.start()` on the built folder (the page cache is warm: the build just wrote it).
- latency of the searches a question makes, as `retrieval.search` makes them: the main dense list, the
  multilingual dense list and the BM25 list (language "en"), each 40 deep, one after another; "hybrid" is the
  three together per question. Unfiltered (administrative access) and filtered (the principal's ACL filter).
- recall@10 of each dense list, as `EdgeIndex.search` runs it (retrieval/index.py, `HNSW_EF`), against exact
  search (`SearchParams(exact=True)`) with the same filter; and of the walk with Qdrant's defaults beside it.
- the filtered lists again with ids and scores only: what reading the 40 hits' payloads costs.
- the lists as the retriever asks them, 100 deep: one call each with whole payloads (before); one call each with
  the few fields ranking needs, then one fetch of the 40 it keeps (light); the same as one batch (now).
- a sweep of the ways to search a dense list (Qdrant's defaults, a wider walk, oversampling, ACORN, exact):
  recall@10 and p50 of each, the evidence for retrieval/index.py's search settings.

Targets (issue 23): hybrid p50 <= 20 ms, filtered <= 2x unfiltered, recall@10 >= 0.95, RSS <= 6 GB. A missed
target is reported, not raised. qdrant-client's local mode is not measured here: it searches by brute force in
Python (ENVIRONMENT.md: 1.6 s for a filtered query at 100k points), so it is a test double, not a store for 1M.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.common import CACHE, REPORTS, ROOT, new_report, percentiles, stderr_console, write_report

LIMIT = 40  # each list's depth in the latency table (the rerank depth)
RETRIEVER_DEPTH, RETRIEVER_KEEPS = 100, 40  # what the retriever asks each list for, and keeps after fusing
RECALL_AT = 10
WRITE_BATCH = 10_000
CHUNKS_PER_DOCUMENT = 10
MAX_P50_MS, MAX_FILTERED_RATIO, MIN_RECALL, MAX_RSS_GIB = 20.0, 2.0, 0.95, 6.0
CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Layout:
    """How a version stores its dense vectors: where the float vectors live, and which quantized copy (kept in
    memory, searched first, rescored with the float vectors) the HNSW search walks, if any."""

    name: str
    description: str
    vectors: str  # "cold" (memory-mapped, read on demand: today's default) or "pinned" (held in memory)
    quantization: str = "none"  # "none", "int8" (scalar) or "binary"
    sparse: str = "cold"  # the BM25 inverted index: "cold" (memory-mapped) or "pinned" (held in memory)
    payload: str = "cold"  # the chunks' payloads (texts and metadata): "cold" or "pinned"


LAYOUTS = {
    layout.name: layout
    for layout in (
        Layout("cold", "float vectors memory-mapped, read on demand (Docent's default before issue 23)", "cold"),
        Layout("pinned", "float vectors held in memory", "pinned"),
        Layout("int8", "float vectors memory-mapped; int8 copy in memory, rescored (Docent's default)", "cold", "int8"),
        Layout("int8-sparse", "int8 as above; the BM25 index held in memory", "cold", "int8", "pinned"),
        Layout("int8-payload", "int8 as above; the payloads held in memory", "cold", "int8", payload="pinned"),
        Layout("binary", "float vectors memory-mapped; 1-bit copy in memory, rescored", "cold", "binary"),
    )
}


def edge_config(spec, layout: Layout):
    """The EdgeConfig of `layout`, otherwise EdgeIndex's own (retrieval/edge_index.py)."""
    import qdrant_edge as qe

    from retrieval.edge_index import QUANTILE
    from retrieval.index import DENSE, DENSE_MULTI, SPARSE

    memory_of = {"cold": qe.Memory.Cold, "pinned": qe.Memory.Pinned}
    memory = memory_of[layout.vectors]
    quantization = {
        "none": None,
        "int8": qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=QUANTILE, memory=qe.Memory.Pinned),
        "binary": qe.BinaryQuantizationConfig(memory=qe.Memory.Pinned),
    }[layout.quantization]
    cold = qe.Memory.Cold
    vectors = {
        DENSE: qe.EdgeVectorParams(size=spec.dense_size, distance=qe.Distance.Cosine, memory=memory),
        DENSE_MULTI: qe.EdgeVectorParams(size=spec.multilingual_size, distance=qe.Distance.Cosine, memory=memory),
    }
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=memory_of[layout.sparse])},
        quantization_config=quantization,
        payload_memory=memory_of[layout.payload],
        id_tracker_memory=cold,
    )


def _spec():
    from retrieval.embedding import PACKAGED_MODEL, PACKAGED_MULTILINGUAL_MODEL
    from retrieval.models import IndexSpec

    return IndexSpec(
        collection="bench",
        model=PACKAGED_MODEL,
        dense_size=384,
        multilingual_model=PACKAGED_MULTILINGUAL_MODEL,
        multilingual_size=512,
    )


def _open_index(folder: Path, layout: Layout):
    from retrieval.edge_index import EdgeIndex

    if layout.name == "int8":  # EdgeIndex's own storage
        return EdgeIndex(folder, _spec())

    class LayoutIndex(EdgeIndex):
        def _config(self):
            return edge_config(self.spec, layout)

    return LayoutIndex(folder, _spec())


# -- material (parent process) ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Material:
    texts: list[str]
    headings: list[str]
    dense: np.ndarray  # pool x 384, MiniLM
    multi: np.ndarray  # pool x 512, USE
    sparse: list  # SparseVector per pool chunk
    queries: dict[str, np.ndarray]  # "dense", "multi", "sparse_indices"/"sparse_values"/"sparse_offsets"


def make_material(pool_size: int, queries: int, seed: int, cache: Path, console: Console) -> tuple[Material, dict]:
    from bench.search import encode_pool, encode_queries, make_texts
    from retrieval.embedding import PACKAGED_MODEL, SentenceTransformerEmbedder, UniversalSentenceEncoder

    pool_texts, query_texts = make_texts(pool_size, queries, seed)
    embedder = SentenceTransformerEmbedder(PACKAGED_MODEL)
    with console.status("loading the embedding models"):
        embedder.start()
        use = UniversalSentenceEncoder()
        use.start()
    pool, meta = encode_pool(pool_texts, cache / f"pool-{pool_size}-{seed}", embedder, console)
    multi_file = cache / f"pool-{pool_size}-{seed}-usem3.npy"
    if multi_file.exists() and len(np.load(multi_file)) == pool_size:
        multi = np.load(multi_file)
    else:
        with console.status(f"embedding {pool_size} pool chunks with usem3"):
            multi = np.asarray(use.embed_documents(pool_texts.texts), dtype=np.float32)
        np.save(multi_file, multi)
    encoded, timing = encode_queries(query_texts, embedder)
    multi_queries = np.stack([np.asarray(use.embed_query(t), dtype=np.float32) for t in query_texts.texts])
    lengths = [len(s.indices) for s in encoded.sparse]
    query_arrays = {
        "dense": encoded.dense.astype(np.float32),
        "multi": multi_queries,
        "sparse_indices": np.concatenate([np.asarray(s.indices, dtype=np.int64) for s in encoded.sparse]),
        "sparse_values": np.concatenate([np.asarray(s.values, dtype=np.float32) for s in encoded.sparse]),
        "sparse_offsets": np.cumsum([0, *lengths]),
    }
    material = Material(pool_texts.texts, pool_texts.headings, pool.dense, multi, pool.sparse, query_arrays)
    return material, {"pool": meta, "query_encoding_ms": timing}


# -- build -----------------------------------------------------------------------------------------------------------


def _acls(documents: int, seed: int) -> list[tuple[bool, tuple[str, ...]]]:
    from bench.search import document_acls

    return document_acls(documents, seed)


def build(folder: Path, layout: Layout, material: Material, config: dict, console: Console) -> dict:
    """Write `config["size"]` chunks in bulk, optimize, and leave build.json (the cache marker) in `folder`."""
    from bench.search import document_meta
    from retrieval.models import Chunk, IndexedChunk

    shutil.rmtree(folder, ignore_errors=True)
    size, seed, noise = config["size"], config["seed"], config["noise"]
    pool = len(material.texts)
    acls = _acls(-(-size // CHUNKS_PER_DOCUMENT), seed)
    rng = np.random.default_rng(seed)
    parents = np.concatenate([np.arange(min(size, pool)), rng.integers(0, pool, size=max(0, size - pool))])
    index = _open_index(folder, layout)
    index.start()
    try:
        started = time.perf_counter()
        with Progress(
            TextColumn(f"{layout.name}: writing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("write", total=size)
            for start in range(0, size, WRITE_BATCH):
                rows = np.arange(start, min(size, start + WRITE_BATCH))
                dense = material.dense[parents[rows]].astype(np.float32)
                multi = material.multi[parents[rows]].astype(np.float32)
                moved = rows >= pool  # copies past the pool get their own noise
                for vectors in (dense, multi):
                    vectors[moved] += noise * rng.standard_normal((int(moved.sum()), vectors.shape[1]), np.float32)
                    vectors[moved] /= np.linalg.norm(vectors[moved], axis=1, keepdims=True)
                chunks = []
                meta = None
                for i, k in enumerate(rows):
                    d = int(k) // CHUNKS_PER_DOCUMENT
                    p = int(parents[k])
                    if meta is None or int(k) % CHUNKS_PER_DOCUMENT == 0:  # one per document, titled by chunk 0
                        public, acl = acls[d]
                        meta = document_meta(d, public, acl, material.headings[p], CHUNKS_PER_DOCUMENT)
                    chunk = Chunk(
                        number=int(k) % CHUNKS_PER_DOCUMENT,
                        text=material.texts[p],
                        headings=(material.headings[p],),
                        language="en",
                    )
                    chunks.append(IndexedChunk(meta, chunk, dense[i], material.sparse[p], multi[i]))
                index.upsert(chunks)
                progress.advance(task, len(rows))
        index.shard.flush()
        write_s = time.perf_counter() - started
        with console.status(f"{layout.name}: optimize (HNSW build of both dense vectors, sparse index)"):
            started = time.perf_counter()
            index.optimize()
            optimize_s = time.perf_counter() - started
        info = index.shard.info()
        shard = {"segments": info.segments_count, "points": info.points_count}
    finally:
        index.close()
    disk = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    record = {
        "config": config,
        "write_s": round(write_s, 1),
        "write_chunks_per_s": round(size / write_s),
        "optimize_s": round(optimize_s, 1),
        "shard": shard,
        "disk_gib": round(disk / 2**30, 2),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / "build.json").write_text(json.dumps(record, indent=2) + "\n")
    console.print(
        f"{layout.name}: wrote {size} chunks in {write_s:.0f} s ({size / write_s:.0f}/s), optimize {optimize_s:.0f} s, "
        f"{shard['segments']} segments, {disk / 2**30:.2f} GiB on disk"
    )
    return record


# -- measure (child process) -----------------------------------------------------------------------------------------


def _rss() -> dict[str, float]:
    status = Path("/proc/self/status").read_text().splitlines()
    fields = {line.split(":")[0]: line.split()[1] for line in status if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mib": round(int(fields["VmRSS"]) / 1024), "peak_mib": round(int(fields["VmHWM"]) / 1024)}


def measure(
    folder: Path, layout: Layout, queries_file: Path, recall_queries: int, seed: int, sweep_queries: int
) -> dict:
    """Open the built index and measure it (runs in a child process: see the module docstring)."""
    import qdrant_edge as qe

    from bench.search import PRINCIPAL, visible_documents
    from retrieval.access import ALL_ACCESS
    from retrieval.edge_index import _filter, _params
    from retrieval.filters import SearchFilters
    from retrieval.index import DENSE, DENSE_MULTI, RANKING_FIELDS, SPARSE, IndexQuery
    from retrieval.models import SparseVector

    baseline = _rss()
    data = np.load(queries_file)
    offsets = data["sparse_offsets"]
    sparse = [
        SparseVector(data["sparse_indices"][a:b].tolist(), data["sparse_values"][a:b].tolist())
        for a, b in itertools.pairwise(offsets)
    ]
    count = len(sparse)
    index = _open_index(folder, layout)
    started = time.perf_counter()
    index.start()
    open_s = time.perf_counter() - started
    opened = _rss()
    accesses = {"unfiltered": ALL_ACCESS, "filtered": PRINCIPAL}
    english = SearchFilters(languages=("en",))

    def lists(i: int, access) -> dict[str, IndexQuery]:
        return {
            "dense": IndexQuery(limit=LIMIT, dense=data["dense"][i], dense_vector=DENSE, access=access),
            "multi": IndexQuery(limit=LIMIT, dense=data["multi"][i], dense_vector=DENSE_MULTI, access=access),
            "sparse": IndexQuery(limit=LIMIT, sparse=sparse[i], access=access, filters=english),
        }

    for i in range(min(20, count)):  # warm-up: the first searches fault in the graph and the payload index
        for query in lists(i, ALL_ACCESS).values():
            index.search(query)
    times: dict[str, dict[str, list[float]]] = {
        a: {"dense": [], "multi": [], "sparse": [], "hybrid": []} for a in accesses
    }
    for i in range(count):  # interleaved, so every kind sees the same machine noise
        for name, access in accesses.items():
            total = 0.0
            for kind, query in lists(i, access).items():
                began = time.perf_counter()
                index.search(query)
                took = (time.perf_counter() - began) * 1000
                times[name][kind].append(took)
                total += took
            times[name]["hybrid"].append(total)
    searched = _rss()

    # The same three lists returning ids and scores only: how much of a search is reading 40 payloads (the
    # chunk texts the retriever fuses, packs and cites) rather than walking the index.
    bare: list[float] = []
    for i in range(count):
        flt = _filter(PRINCIPAL, SearchFilters())
        began = time.perf_counter()
        for kind, using in (("dense", DENSE), ("multi", DENSE_MULTI), ("sparse", SPARSE)):
            if kind == "sparse":
                query = qe.Query.Nearest(qe.SparseVector(sparse[i].indices, sparse[i].values), using=using)
            else:
                query = qe.Query.Nearest(data[kind][i].tolist(), using=using)
            params = _params(index.shard.count(qe.CountRequest(exact=False, filter=flt)))
            request = qe.QueryRequest(query=query, filter=flt, params=params, limit=LIMIT, with_payload=False)
            index.shard.query(request)
        bare.append((time.perf_counter() - began) * 1000)

    # What the retriever asks (retrieval/search.py): each list 100 deep. Before issue 23 with whole payloads, one
    # call per list ("before"); then with RANKING_FIELDS only and one fetch of the whole payloads of the best
    # RETRIEVER_KEEPS ("light"); now the lists as one batch (`search_many`), then that fetch ("now").
    def retriever(i: int, access, kind: str) -> float:
        began = time.perf_counter()
        fields = None if kind == "before" else RANKING_FIELDS
        queries = [replace(q, limit=RETRIEVER_DEPTH, fields=fields) for q in lists(i, access).values()]
        found = index.search_many(queries) if kind == "now" else [index.search(q) for q in queries]
        if kind != "before":
            index.fetch([h.id for hits in found for h in hits[: RETRIEVER_KEEPS // 3]], access)
        return (time.perf_counter() - began) * 1000

    kinds = ("before", "light", "now")
    retriever_ms: dict[str, dict[str, list[float]]] = {a: {k: [] for k in kinds} for a in accesses}
    for i in range(count):
        for name, access in accesses.items():
            for kind in kinds[i % 3 :] + kinds[: i % 3]:  # each goes first in turn (the first finds colder caches)
                retriever_ms[name][kind].append(retriever(i, access, kind))

    # recall@10 of the approximate dense search against exact search, same filter
    def exact_or_plain(vector: list[float], using: str, flt: object, exact: bool) -> set[str]:
        """Exact search, or the HNSW walk with Qdrant's defaults (what Docent searched before issue 23)."""
        request = qe.QueryRequest(
            query=qe.Query.Nearest(vector, using=using),
            filter=flt,  # type: ignore[arg-type]
            limit=RECALL_AT,
            with_payload=False,
            params=qe.SearchParams(exact=True) if exact else None,
        )
        return {str(p.id) for p in index.shard.query(request)}

    recall: dict[str, dict[str, float]] = {}
    plain: dict[str, dict[str, float]] = {}
    exact_ms: list[float] = []
    for name, access in accesses.items():
        recall[name], plain[name] = {}, {}
        flt = _filter(access, SearchFilters())
        for kind, using in (("dense", DENSE), ("multi", DENSE_MULTI)):
            found, found_plain = [], []
            for i in range(min(recall_queries, count)):
                vector = data[kind][i]
                ours = {h.id for h in index.search(IndexQuery(RECALL_AT, vector, dense_vector=using, access=access))}
                began = time.perf_counter()
                exact = exact_or_plain(vector.tolist(), using, flt, exact=True)
                exact_ms.append((time.perf_counter() - began) * 1000)
                found.append(len(ours & exact) / max(1, len(exact)))
                found_plain.append(
                    len(exact_or_plain(vector.tolist(), using, flt, exact=False) & exact) / max(1, len(exact))
                )
            recall[name][kind] = round(float(np.mean(found)), 4)
            plain[name][kind] = round(float(np.mean(found_plain)), 4)
    sweep = params_sweep(index, data, accesses, min(sweep_queries, count)) if sweep_queries else {}
    index.close()
    started = time.perf_counter()
    index.start()  # a second open, as a restart finds it
    reopen_s = time.perf_counter() - started
    index.close()
    acls = _acls(-(-index_size(folder) // CHUNKS_PER_DOCUMENT), seed)
    visible = len(visible_documents(acls, PRINCIPAL)) / len(acls)
    latency = {a: {k: percentiles(v, digits=2) for k, v in kinds.items()} for a, kinds in times.items()}
    return {
        "open_s": round(open_s, 2),
        "reopen_s": round(reopen_s, 2),
        "visible_share": round(visible, 4),
        "memory_mib": {"baseline": baseline, "opened": opened, "searched": searched, "end": _rss()},
        "latency_ms": latency,
        "exact_search_ms": percentiles(exact_ms, digits=1),
        "filtered_hybrid_without_payload_ms": percentiles(bare, digits=2),
        "retriever_lists_ms": {
            a: {k: percentiles(v, digits=2) for k, v in kinds.items()} for a, kinds in retriever_ms.items()
        },
        "recall_at_10": recall,
        "recall_at_10_plain_hnsw": plain,
        "params_sweep": sweep,
    }


def params_sweep(index, data, accesses: dict, queries: int) -> dict:
    """recall@10 (of 40 asked, as the retriever asks) and p50 ms of each way of searching a dense list, against
    exact search: the evidence for retrieval/index.py's `HNSW_EF`, `OVERSAMPLING` and `EXACT_SCAN_POINTS`."""
    import qdrant_edge as qe

    from retrieval.edge_index import _filter
    from retrieval.filters import SearchFilters
    from retrieval.index import DENSE, DENSE_MULTI

    rescored = qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
    ways = {
        "qdrant_defaults": None,
        "ef200": qe.SearchParams(hnsw_ef=200),
        "ef128_oversampling2": qe.SearchParams(hnsw_ef=128, quantization=rescored),
        "ef200_oversampling2": qe.SearchParams(hnsw_ef=200, quantization=rescored),
        "acorn": qe.SearchParams(acorn=qe.AcornSearchParams(enable=True)),
        "exact": qe.SearchParams(exact=True),
    }
    truth_params = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))

    def top(vector: list[float], using: str, flt: object, params: object, limit: int) -> tuple[list, float]:
        request = qe.QueryRequest(
            query=qe.Query.Nearest(vector, using=using),
            filter=flt,  # type: ignore[arg-type]
            limit=limit,
            with_payload=False,
            params=params,  # type: ignore[arg-type]
        )
        began = time.perf_counter()
        ids = [p.id for p in index.shard.query(request)]
        return ids[:RECALL_AT], (time.perf_counter() - began) * 1000

    result: dict[str, dict] = {}
    for name, access in accesses.items():
        flt = _filter(access, SearchFilters())
        for kind, using in (("dense", DENSE), ("multi", DENSE_MULTI)):
            vectors = [data[kind][i].tolist() for i in range(queries)]
            truth = [set(top(v, using, flt, truth_params, RECALL_AT)[0]) for v in vectors]
            rows = {}
            for way, params in ways.items():
                if way == "acorn" and name == "unfiltered":
                    continue  # ACORN changes only filtered searches
                found = [top(v, using, flt, params, LIMIT) for v in vectors]
                recall = np.mean([len(set(ids) & t) / max(1, len(t)) for (ids, _), t in zip(found, truth, strict=True)])
                rows[way] = {
                    "recall_at_10": round(float(recall), 3),
                    "p50_ms": round(float(np.median([ms for _, ms in found])), 2),
                }
            result[f"{name}/{kind}"] = rows
    return result


def index_size(folder: Path) -> int:
    return json.loads((folder / "build.json").read_text())["config"]["size"]


# -- report ----------------------------------------------------------------------------------------------------------


def judge(result: dict) -> dict[str, bool]:
    latency = result["latency_ms"]
    unfiltered, filtered = latency["unfiltered"]["hybrid"]["p50"], latency["filtered"]["hybrid"]["p50"]
    worst_recall = min(v for kinds in result["recall_at_10"].values() for v in kinds.values())
    return {
        "hybrid_p50_le_20ms": max(unfiltered, filtered) <= MAX_P50_MS,
        "filtered_le_2x_unfiltered": filtered <= MAX_FILTERED_RATIO * unfiltered,
        "recall_at_10_ge_0.95": worst_recall >= MIN_RECALL,
        # the peak while serving searches; the exact searches of the recall check that follow read every float
        # vector (several GiB of file pages at 1M), which no server does
        "rss_le_6gib": result["memory_mib"]["searched"]["peak_mib"] <= MAX_RSS_GIB * 1024,
    }


def print_table(console: Console, report: dict) -> None:
    table = Table(title=f"{report['config']['size']:,} chunks in Qdrant Edge (ms; hybrid = 3 lists of {LIMIT})")
    columns = (
        "layout",
        "build: write + HNSW s",
        "disk GiB",
        "reopen s",
        "RSS MiB searching (peak with exact)",
        "hybrid p50 / p95",
        "filtered p50 / p95",
        "dense / multi / sparse p50",
        "recall@10 dense / multi (filtered)",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "layout" else "right")
    for name, r in report["layouts"].items():
        b, lat, rec, mem = r["build"], r["latency_ms"], r["recall_at_10"], r["memory_mib"]
        u, f = lat["unfiltered"], lat["filtered"]
        table.add_row(
            name,
            f"{b['write_s']:.0f} + {b['optimize_s']:.0f}",
            f"{b['disk_gib']:.2f}",
            f"{r['reopen_s']:.2f}",
            f"{mem['searched']['rss_mib']} ({mem['end']['peak_mib']})",
            f"{u['hybrid']['p50']:.1f} / {u['hybrid']['p95']:.1f}",
            f"{f['hybrid']['p50']:.1f} / {f['hybrid']['p95']:.1f}",
            f"{u['dense']['p50']:.1f} / {u['multi']['p50']:.1f} / {u['sparse']['p50']:.1f}",
            f"{rec['unfiltered']['dense']:.3f} / {rec['unfiltered']['multi']:.3f} "
            f"({rec['filtered']['dense']:.3f} / {rec['filtered']['multi']:.3f})",
        )
    console.print(table)
    for name, r in report["layouts"].items():
        marks = ", ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, ok in r["pass"].items())
        console.print(f"{name}: {LAYOUTS[name].description} → {marks}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A million chunks (see the module docstring).")
    parser.add_argument("--size", type=int, default=1_000_000, help="chunks (default 1,000,000)")
    parser.add_argument("--layouts", default="cold,int8", help=f"comma-separated, of {', '.join(LAYOUTS)}")
    parser.add_argument("--queries", type=int, default=200, help="queries timed (default 200)")
    parser.add_argument("--recall-queries", type=int, default=100, help="queries for recall (default 100)")
    parser.add_argument("--pool", type=int, default=3000, help="real chunks embedded to copy from (default 3000)")
    parser.add_argument("--noise", type=float, default=0.02, help="noise of the copies (bench/search.py)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=CACHE, help="where indexes are cached (bench/.cache)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even when cached")
    parser.add_argument("--sweep", type=int, default=30, help="queries of the search-parameter sweep (0: none)")
    parser.add_argument("--json", type=Path, default=REPORTS / "scale.json", help="report file")
    parser.add_argument("--measure-one", nargs=3, metavar=("FOLDER", "LAYOUT", "QUERIES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_one:  # the child process
        folder, layout, queries = args.measure_one
        result = measure(Path(folder), LAYOUTS[layout], Path(queries), args.recall_queries, args.seed, args.sweep)
        print(json.dumps(result))
        return 0

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    console = stderr_console()
    started = time.perf_counter()
    layouts = [LAYOUTS[n.strip()] for n in args.layouts.split(",") if n.strip()]
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if not (args.data_dir / ".gitignore").exists() and args.data_dir.resolve().is_relative_to(ROOT):
        (args.data_dir / ".gitignore").write_text("# written by the benchmarks: a cache, never committed\n*\n")
    pool_size = min(args.pool, args.size)
    report = new_report(
        "scale",
        targets={
            "hybrid_p50_max_ms": MAX_P50_MS,
            "filtered_over_unfiltered_max": MAX_FILTERED_RATIO,
            "recall_at_10_min": MIN_RECALL,
            "rss_max_gib": MAX_RSS_GIB,
        },
        config={
            "size": args.size,
            "queries": args.queries,
            "recall_queries": args.recall_queries,
            "pool": pool_size,
            "noise": args.noise,
            "seed": args.seed,
            "limit": LIMIT,
            "layouts": {layout.name: layout.description for layout in layouts},
        },
        layouts={},
    )
    material, report["material"] = make_material(pool_size, args.queries, args.seed, args.data_dir, console)
    queries_file = args.data_dir / f"scale-queries-{args.queries}-{args.seed}.npz"
    np.savez(queries_file, **material.queries)
    for layout in layouts:
        folder = args.data_dir / f"scale-{args.size}-{layout.name}"
        config = {"format": CACHE_FORMAT, "size": args.size, "pool": pool_size, "noise": args.noise, "seed": args.seed}
        marker = folder / "build.json"
        cached = not args.rebuild and marker.exists() and json.loads(marker.read_text())["config"] == config
        record = json.loads(marker.read_text()) if cached else build(folder, layout, material, config, console)
        with console.status(f"{layout.name}: measuring in a child process"):
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.scale",
                    "--measure-one",
                    str(folder),
                    layout.name,
                    str(queries_file),
                    "--recall-queries",
                    str(args.recall_queries),
                    "--sweep",
                    str(args.sweep),
                    "--seed",
                    str(args.seed),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
        if child.returncode != 0:
            console.print(f"[red]{layout.name}: measuring failed[/red]\n{child.stderr[-3000:]}")
            report["layouts"][layout.name] = {"build": {**record, "cached": cached}, "error": child.stderr[-3000:]}
            continue
        result = {"build": {**record, "cached": cached}, **json.loads(child.stdout.strip().splitlines()[-1])}
        result["pass"] = judge(result)
        report["layouts"][layout.name] = result
        console.print(
            f"{layout.name}: hybrid p50 {result['latency_ms']['unfiltered']['hybrid']['p50']} ms, filtered "
            f"{result['latency_ms']['filtered']['hybrid']['p50']} ms, recall {result['recall_at_10']}"
        )
    measured = [r for r in report["layouts"].values() if "pass" in r]
    report["passed"] = bool(measured) and all(all(r["pass"].values()) for r in measured)
    write_report(report, args.json, started)
    if measured:
        report["layouts"] = {n: r for n, r in report["layouts"].items() if "pass" in r}
        print_table(console, report)
    console.print(f"report: {args.json} · bench wall {report['bench_wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
