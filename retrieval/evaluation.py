"""Retrieval evaluation: load a labelled query set, run each search mode over it, score the rankings.

The engine behind `docent eval`. It knows nothing of indexes or models: the caller ingests the corpus and
hands in `search(mode, query_text)`, which returns document ids ranked best first (a document ranks by its
best chunk). Scoring follows BEIR / pytrec_eval: graded relevance, linear gains, duplicates ignored.

The headline nDCG and MRR are cut at a configurable k (10 by default, the BEIR convention, so numbers compare
with published ones); recall is always reported at 5, 10 and 100: 5 and 10 are roughly what a generator is
shown, 100 is what a reranker gets to choose from.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import ConfigError, PathNotFoundError

RECALL_CUTOFFS = (5, 10, 100)
QUESTION_KEYS = ("question", "query", "text")
LABEL_KEYS = ("file", "files", "relevant")
JSONL_SUFFIXES = {".jsonl", ".ndjson"}


class EvalDataError(ConfigError, ValueError):
    """A data set or golden query file that cannot be used as it is (names the offending lines or files)."""


@dataclass(frozen=True, slots=True)
class CorpusDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class EvalQuery:
    query_id: str
    text: str
    relevant: dict[str, int]
    """Document id → grade; only grades above 0 are kept, so every key counts as relevant."""


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    corpus: list[CorpusDoc]
    """Empty for a golden set, whose documents the caller ingests from their folder."""
    queries: list[EvalQuery]


@dataclass(frozen=True, slots=True)
class QueryRun:
    """One search: the ranking it returned, the labels to score it against, and how long it took."""

    query_id: str
    ranked: list[str]
    relevant: dict[str, int]
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ModeResult:
    """Means over the queries of one search mode; nDCG and MRR are cut at `k`, recall at 5/10/100."""

    k: int
    queries: int
    ndcg: float
    mrr: float
    recall_5: float
    recall_10: float
    recall_100: float
    latency_p50_ms: float
    latency_p95_ms: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    dataset: str
    queries: int
    k: int
    results: dict[str, ModeResult]
    """Search mode → its result, in the order the modes were run."""

    def to_dict(self) -> dict[str, object]:
        """The `--json` output; the nDCG and MRR keys carry the chosen k ("ndcg@5" when k is 5)."""
        return {
            "dataset": self.dataset,
            "queries": self.queries,
            "k": self.k,
            "results": [
                {
                    "mode": mode,
                    f"ndcg@{self.k}": result.ndcg,
                    "recall@5": result.recall_5,
                    "recall@10": result.recall_10,
                    "recall@100": result.recall_100,
                    f"mrr@{self.k}": result.mrr,
                    "latency_ms": {"p50": result.latency_p50_ms, "p95": result.latency_p95_ms},
                }
                for mode, result in self.results.items()
            ],
        }

    def columns(self) -> list[str]:
        """Table header matching `rows()`."""
        return ["mode", f"nDCG@{self.k}", "R@5", "R@10", "R@100", f"MRR@{self.k}", "p50 ms", "p95 ms"]

    def rows(self) -> list[list[str]]:
        """One formatted row per mode, ready for a rich Table."""
        return [
            [
                mode,
                *(f"{value:.3f}" for value in (r.ndcg, r.recall_5, r.recall_10, r.recall_100, r.mrr)),
                f"{r.latency_p50_ms:.1f}",
                f"{r.latency_p95_ms:.1f}",
            ]
            for mode, r in self.results.items()
        ]


# --- loading ---------------------------------------------------------------------------------------------


def load_beir(folder: Path, *, max_queries: int | None = None) -> EvalSet:
    """Load a BEIR folder: corpus.jsonl, queries.jsonl and qrels/test.tsv.

    Keeps the queries that have at least one relevant document (score > 0), in queries.jsonl order, then the
    first `max_queries` of them.

    Raises:
        PathNotFoundError: a file of the layout is missing.
        EvalDataError: a malformed line, or no query with a relevant document.
    """
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"max_queries must be at least 1, got {max_queries}")
    corpus_file, queries_file, qrels_file = (
        folder / "corpus.jsonl",
        folder / "queries.jsonl",
        folder / "qrels" / "test.tsv",
    )
    for path in (corpus_file, queries_file, qrels_file):
        if not path.is_file():
            raise PathNotFoundError(f"not a BEIR data set, missing {path}")

    corpus = load_beir_corpus(folder)
    qrels = _read_qrels(qrels_file)
    queries = [
        EvalQuery(str(row["_id"]), row["text"], qrels[str(row["_id"])])
        for row in _jsonl_objects(queries_file, required=("_id", "text"))
        if qrels.get(str(row["_id"]))
    ]
    if not queries:
        raise EvalDataError(f"{folder}: no query in queries.jsonl has a relevant document in {qrels_file.name}")
    return EvalSet(folder.name, corpus, queries[:max_queries])


def load_beir_corpus(folder: Path) -> list[CorpusDoc]:
    """The documents of a BEIR folder's corpus.jsonl (all a QA set with gold answers needs besides its questions)."""
    corpus_file = folder / "corpus.jsonl"
    if not corpus_file.is_file():
        raise PathNotFoundError(f"not a BEIR data set, missing {corpus_file}")
    return [
        CorpusDoc(str(row["_id"]), row.get("title") or "", row.get("text") or "")
        for row in _jsonl_objects(corpus_file, required=("_id",))
    ]


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query id → {doc id: grade > 0}; the header line is skipped and score-0 rows are dropped."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        cells = [cell.strip() for cell in line.split("\t")]
        if not line.strip() or cells[0] == "query-id":
            continue
        try:
            query_id, doc_id, score = cells
            grade = int(score)
        except ValueError:
            raise EvalDataError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>integer score") from None
        if grade > 0:
            qrels.setdefault(query_id, {})[doc_id] = grade
    return qrels


def _jsonl_objects(path: Path, *, required: Sequence[str] = ()) -> Iterable[dict[str, Any]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalDataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(row, dict) or any(key not in row for key in required):
            raise EvalDataError(f"{path}:{number}: expected an object with {', '.join(required) or 'fields'}")
        yield row


def load_golden(documents: Path, queries_file: Path) -> EvalSet:
    """Load a company golden set: a folder of documents and questions labelled with files of that folder.

    `queries_file` is JSON (a list, or an object holding a "queries" or "facts" list) or JSONL. Each item
    has its question under the first of `question`, `query`, `text`; an optional `id` (default "q1", "q2",
    ... by position); and its relevant files under the first of `file`, `files`, `relevant`, as one path, a
    list of paths (grade 1 each) or a {path: grade} object. Paths are relative to `documents`; the relevant
    ids are their resolved absolute paths, which is how the index knows a document by its source. The
    corpus stays empty: the caller ingests `documents` with the real pipeline.

    Raises:
        PathNotFoundError: `documents` or `queries_file` does not exist.
        EvalDataError: a malformed item, or labelled files missing from `documents` (all of them named).
    """
    if not documents.is_dir():
        raise PathNotFoundError(f"no such folder: {documents}")
    if not queries_file.is_file():
        raise PathNotFoundError(f"no such file: {queries_file}")
    root = documents.resolve()
    queries = []
    missing: set[str] = set()
    for position, item in enumerate(_golden_items(queries_file), start=1):
        where = f"{queries_file}: item {position}"
        question = next((item[key] for key in QUESTION_KEYS if isinstance(item.get(key), str)), "").strip()
        if not question:
            raise EvalDataError(f"{where}: no question under {' / '.join(QUESTION_KEYS)}")
        relevant = {}
        for name, grade in _labels(item, where).items():
            path = (root / name).resolve()
            if not path.is_file() or not path.is_relative_to(root):
                missing.add(name)
            if grade > 0:
                relevant[str(path)] = grade
        if not relevant:
            raise EvalDataError(f"{where}: no relevant file (all grades are 0)")
        queries.append(EvalQuery(str(item.get("id", f"q{position}")), question, relevant))
    if missing:
        raise EvalDataError(f"labelled files not found in {documents}: {', '.join(sorted(missing))}")
    if not queries:
        raise EvalDataError(f"{queries_file}: no queries")
    if len({query.query_id for query in queries}) < len(queries):
        raise EvalDataError(f"{queries_file}: query ids are not unique")
    return EvalSet(documents.name, [], queries)


def _golden_items(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() not in JSONL_SUFFIXES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            pass  # perhaps JSONL under a .json name; the line reader below reports a real syntax error
        else:
            if isinstance(data, dict):
                data = next((data[key] for key in ("queries", "facts") if key in data), None)
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise EvalDataError(f"{path}: expected a list of objects, or an object with a queries/facts list")
            return data
    return list(_jsonl_objects(path))


def _labels(item: dict[str, Any], where: str) -> dict[str, int]:
    """The item's relevance labels as {relative path: grade}."""
    value = next((item[key] for key in LABEL_KEYS if key in item), None)
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(name, str) for name in value):
        return dict.fromkeys(value, 1)
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(grade, int) and not isinstance(grade, bool) for grade in value.values())
    ):
        return value
    raise EvalDataError(
        f"{where}: expected relevant files under {' / '.join(LABEL_KEYS)} "
        "as a path, a list of paths or a {path: integer grade} object"
    )


# --- metrics ---------------------------------------------------------------------------------------------


def _top(ranked: Sequence[str], k: int) -> list[str]:
    """The first k distinct ids; a repeated id keeps only its first (best) position."""
    return list(dict.fromkeys(ranked))[:k]


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """nDCG@k with linear gains: DCG = Σ rel_i / log2(i + 1) over ranks i = 1..k, over the ideal ordering."""
    gains = [max(relevant.get(doc_id, 0), 0) for doc_id in _top(ranked, k)]
    ideal = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)[:k]
    idcg = _dcg(ideal)
    return _dcg(gains) / idcg if idcg else 0.0


def _dcg(gains: Sequence[int]) -> float:
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of the relevant documents (grade > 0) found in the top k; 0 when nothing is relevant."""
    wanted = {doc_id for doc_id, grade in relevant.items() if grade > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(_top(ranked, k))) / len(wanted)


def mrr_at(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """1 / rank of the first relevant document within the top k, else 0."""
    for rank, doc_id in enumerate(_top(ranked, k), start=1):
        if relevant.get(doc_id, 0) > 0:
            return 1 / rank
    return 0.0


def summarize(runs: Sequence[QueryRun], *, k: int = 10) -> ModeResult:
    """Mean metrics over the runs of one mode, and p50/p95 latency (numpy's linear percentiles)."""
    if not runs:
        raise ValueError("no runs to summarize")

    def mean(metric: Callable[[Sequence[str], dict[str, int], int], float], cutoff: int) -> float:
        return float(np.mean([metric(run.ranked, run.relevant, cutoff) for run in runs]))

    p50, p95 = np.percentile([run.latency_ms for run in runs], [50, 95])
    return ModeResult(
        k=k,
        queries=len(runs),
        ndcg=mean(ndcg_at, k),
        mrr=mean(mrr_at, k),
        recall_5=mean(recall_at, 5),
        recall_10=mean(recall_at, 10),
        recall_100=mean(recall_at, 100),
        latency_p50_ms=float(p50),
        latency_p95_ms=float(p95),
    )


# --- runner ----------------------------------------------------------------------------------------------


def evaluate(
    eval_set: EvalSet,
    search: Callable[[str, str], list[str]],
    modes: Sequence[str],
    *,
    k: int = 10,
    depth: int = 100,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run every query through `search(mode, query_text)` for each mode, timing each call, and score it.

    Args:
        search: returns document ids ranked best first, at least `depth` of them where the index has them;
            ids are the corpus `doc_id`s (BEIR) or absolute source paths (golden sets).
        k: cut-off of the headline nDCG and MRR.
        depth: rankings are cut to this many distinct ids; at least k and 100, so recall@100 is honest.
        progress: called after each search with the number of searches done so far, out of
            len(modes) * len(eval_set.queries).
    """
    if not modes or len(set(modes)) < len(modes):
        raise ValueError(f"modes must be a non-empty list without repeats, got {list(modes)}")
    if k < 1 or depth < max(k, *RECALL_CUTOFFS):
        raise ValueError(f"need 1 <= k <= depth and depth >= {max(RECALL_CUTOFFS)}, got k={k}, depth={depth}")
    if not eval_set.queries:
        raise ValueError(f"{eval_set.name}: no queries to evaluate")
    results = {}
    done = 0
    for mode in modes:
        runs = []
        for query in eval_set.queries:
            started = time.perf_counter()
            ranked = search(mode, query.text)
            elapsed_ms = (time.perf_counter() - started) * 1000
            runs.append(QueryRun(query.query_id, _top(ranked, depth), query.relevant, elapsed_ms))
            done += 1
            if progress is not None:
                progress(done)
        results[mode] = summarize(runs, k=k)
    return EvalReport(eval_set.name, len(eval_set.queries), k, results)
