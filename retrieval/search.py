"""The retrieval service: query → passages. Every caller (CLI, API, Slack, evaluation) searches through it.

Stages, each optional except the first:
1. hybrid search: three lists from the index, each filtered by the caller's access and filters — the main
   dense model (for the languages it knows), the multilingual dense model (every chunk carries its vector, so
   a question finds passages in the other language) and BM25 — fused by `retrieval.fusion` (the numbers are
   in bench/README.md);
2. cross-encoder reranking of the top `rerank_candidates` hits;
3. a score floor on the last stage's score;
4. shaping: at most `max_per_document` passages per document (one long document cannot fill the top k),
   adjacent chunks of one section merged into one passage, and optionally `neighbours` chunks on each side.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

import numpy as np

from retrieval.access import Access
from retrieval.errors import ConfigError
from retrieval.filters import NO_FILTERS, SearchFilters
from retrieval.fusion import Candidate, Fusion, RankedList, fuse
from retrieval.index import DENSE, DENSE_MULTI, RANKING_FIELDS, Index, IndexQuery
from retrieval.models import SearchHit, SparseVector, point_id
from retrieval.passages import Passage
from retrieval.rerank import Reranker
from retrieval.sparse import SparseEncoder
from retrieval.terms import detect_language

SPARSE_TRANSLATED = "sparse_translated"  # BM25 of the question's translation, over the other language's passages


class Mode(StrEnum):
    """Which stages run: one half of the hybrid search, both, or both plus the cross-encoder."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"
    RERANK = "rerank"


class QueryEmbedder(Protocol):
    """The query side of a dense model (the main embedder, or the CJK one)."""

    def embed_query(self, text: str) -> np.ndarray: ...


class SentenceEmbedder(QueryEmbedder, Protocol):
    """Both sides of a dense model: the multilingual one, which the answerer also uses to compare sentences."""

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """The tuning of the service; built from `RetrievalSettings` in the composition root."""

    candidates: int = 100
    fusion: Fusion = Fusion.ADAPTIVE
    # The languages the main dense model knows (empty: all). Its lists skip queries and passages in others:
    # the packaged MiniLM knows English only, and its cosine for anything else is noise.
    languages: frozenset[str] = frozenset({"en"})
    max_per_document: int = 3
    neighbours: int = 0
    score_floor: float | None = None
    rerank_candidates: int = 30


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One search. `access` comes from authentication, never from the request body."""

    query: str
    access: Access
    k: int = 10
    filters: SearchFilters = NO_FILTERS
    mode: Mode = Mode.HYBRID
    neighbours: int | None = None  # None: the service's default
    # The query in the other language (answer/translation.py): BM25 searches that language with it too.
    translation: str | None = None


@dataclass(slots=True)
class SearchResult:
    passages: list[Passage]
    language: str
    lists: tuple[str, ...] = ()  # the lists that were searched and fused ("dense", "multilingual", "sparse")
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Hybrid, access-controlled search with optional reranking and result shaping."""

    def __init__(
        self,
        index: Index,
        embedder: QueryEmbedder,
        sparse: SparseEncoder,
        *,
        multilingual_embedder: SentenceEmbedder | None = None,
        reranker: Reranker | None = None,
        options: SearchOptions = SearchOptions(),
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.multilingual_embedder = multilingual_embedder if index.spec.multilingual_model else None
        self.reranker = reranker
        self.options = options

    # -- the public operations ---------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        """Ranked passages for `request.query`, at most `request.k`, only from documents `access` may read."""
        hits, result = self.hits(request, limit=self._depth(request))
        passages = self._shape(hits, request, result)
        result.passages = passages
        return result

    def hits(self, request: SearchRequest, *, limit: int) -> tuple[list[RankedHit], SearchResult]:
        """The ranked chunk hits before shaping (what evaluation ranks documents by), with the stage scores."""
        result = SearchResult(passages=[], language=detect_language(request.query))
        if not request.query.strip():
            return [], result
        if request.mode is Mode.RERANK and self.reranker is None:
            raise ConfigError("the rerank mode needs a cross-encoder: set DOCENT_RETRIEVAL__RERANK_MODEL")
        depth = max(self.options.candidates, request.k, limit)
        lists = self._lists(request, result, depth)
        result.lists = tuple(lst.name for lst, _ in lists)
        started = time.perf_counter()
        found: dict[str, SearchHit] = {}
        stages: dict[str, dict[str, float]] = {}
        for lst, hits in lists:
            for hit in hits:
                found.setdefault(hit.id, hit)
                stages.setdefault(hit.id, {})[lst.name] = hit.score
        if len(lists) == 1:  # one list: its own ranking and scores
            ranking = [Candidate(h.id, h.language, h.score) for h in lists[0][1]]
        else:
            ranking = fuse(
                [lst for lst, _ in lists], query_language=result.language, rule=self.options.fusion, depth=depth
            )
            for candidate in ranking:
                stages[candidate.key]["fused"] = candidate.score
        scored = [RankedHit(found[c.key], c.score, stages[c.key]) for c in ranking[:limit]]
        result.timings_ms["fuse"] = _ms(started)
        started = time.perf_counter()
        scored = self._whole(scored, request.access)
        result.timings_ms["fetch"] = _ms(started)

        if request.mode is Mode.RERANK:
            started = time.perf_counter()
            scored = self._rerank(request.query, scored[: self.options.rerank_candidates])
            result.timings_ms["rerank"] = _ms(started)
        if self.options.score_floor is not None:
            scored = [s for s in scored if s.score >= self.options.score_floor]
        return scored, result

    def _whole(self, scored: list[RankedHit], access: Access) -> list[RankedHit]:
        """The ranked hits with their whole payloads (the lists carried `RANKING_FIELDS` only), read in one
        fetch; a chunk deleted since the search is left out."""
        whole = {h.id: h for h in self.index.fetch([s.hit.id for s in scored], access)}
        return [
            RankedHit(replace(whole[s.hit.id], score=s.hit.score, dense=s.hit.dense), s.score, s.scores)
            for s in scored
            if s.hit.id in whole
        ]

    def fetch(self, document_id: str, chunks: Sequence[int], access: Access) -> list[Passage]:
        """Chunks of a document by number, as one-chunk passages; those `access` may not read are absent."""
        hits = self.index.fetch([point_id(document_id, n) for n in chunks], access)
        return [_passage([RankedHit(h, 0.0)]) for h in sorted(hits, key=lambda h: h.chunk)]

    # -- stages ------------------------------------------------------------------------------------

    def _lists(
        self, request: SearchRequest, result: SearchResult, depth: int
    ) -> list[tuple[RankedList, list[SearchHit]]]:
        """The ranked lists of the request's mode, each searched `depth` deep with the caller's access and filters.

        Each list searches only the passages it can judge (see `retrieval.fusion`), by a language filter in
        the index, so that its depth is spent on them. The dense mode fuses the two dense models."""
        language, mode = result.language, request.mode
        sides: list[tuple[RankedList, IndexQuery | None]] = []
        started = time.perf_counter()
        if mode is not Mode.SPARSE:
            main = RankedList(DENSE, (), self.options.languages, crosses=not self.options.languages)
            if main.speaks(language):
                vector = np.asarray(self.embedder.embed_query(request.query), dtype=np.float32)
                query = self._query(request, depth, self.options.languages, dense=vector, dense_vector=DENSE)
                sides.append((main, query))
            if self.multilingual_embedder is not None:
                vector = np.asarray(self.multilingual_embedder.embed_query(request.query), dtype=np.float32)
                query = self._query(request, depth, dense=vector, dense_vector=DENSE_MULTI)
                sides.append((RankedList(DENSE_MULTI, ()), query))
        if mode is not Mode.DENSE:
            # BM25 cannot match across languages: fused, it searches the query's language only; alone (the
            # sparse mode), it searches everything, as a plain keyword search would.
            alone = mode is Mode.SPARSE
            languages = frozenset() if alone else frozenset({language})
            query = self._query(request, depth, languages, sparse=self.sparse.encode_query(request.query))
            sides.append((RankedList("sparse", (), crosses=alone), query))
            other = detect_language(request.translation) if request.translation else language
            if request.translation and not alone and other != language:
                # Its own list, over the other language's passages only: it judges them as the question's
                # BM25 list judges passages in the question's language.
                sparse = self.sparse.encode_query(request.translation)
                query = self._query(request, depth, frozenset({other}), sparse=sparse)
                sides.append((RankedList(SPARSE_TRANSLATED, ()), query))
        result.timings_ms["embed"] = _ms(started)
        started = time.perf_counter()
        # A list whose query is None: the caller's language filter excludes every passage it can judge.
        searched = [(side, query) for side, query in sides if query is not None]
        lists = []
        for (side, _), hits in zip(searched, self.index.search_many([q for _, q in searched]), strict=True):
            candidates = [Candidate(h.id, h.language, h.score) for h in hits]
            lists.append((RankedList(side.name, candidates, side.languages, side.crosses), hits))
        result.timings_ms["search"] = _ms(started)
        return lists

    def _query(
        self,
        request: SearchRequest,
        depth: int,
        languages: frozenset[str] = frozenset(),
        *,
        dense: np.ndarray | None = None,
        dense_vector: str = DENSE,
        sparse: SparseVector | None = None,
    ) -> IndexQuery | None:
        """One list's index query: the request's access and filters, narrowed to `languages` (empty: all)."""
        filters = request.filters
        if languages:
            wanted = sorted(languages & set(filters.languages)) if filters.languages else sorted(languages)
            if not wanted:
                return None
            filters = replace(filters, languages=tuple(wanted))
        return IndexQuery(
            limit=depth,
            dense=dense,
            sparse=sparse,
            dense_vector=dense_vector,
            access=request.access,
            filters=filters,
            fields=RANKING_FIELDS,
        )

    def _depth(self, request: SearchRequest) -> int:
        """Hits to fetch: enough for the per-document cap and merging to still fill k passages."""
        depth = max(request.k * 4, 20)
        if request.mode is Mode.RERANK:
            depth = max(depth, self.options.rerank_candidates)
        return depth

    def _rerank(self, query: str, scored: list[RankedHit]) -> list[RankedHit]:
        assert self.reranker is not None
        texts = [_rerank_text(s.hit) for s in scored]
        for s, value in zip(scored, self.reranker.score(query, texts), strict=True):
            s.scores["rerank"] = float(value)
            s.score = float(value)
        return sorted(scored, key=lambda s: -s.score)

    def _shape(self, hits: list[RankedHit], request: SearchRequest, result: SearchResult) -> list[Passage]:
        started = time.perf_counter()
        groups = group_hits(hits, k=request.k, max_per_document=self.options.max_per_document)
        neighbours = self.options.neighbours if request.neighbours is None else request.neighbours
        if neighbours:
            groups = [self._expand(g, neighbours, request.access) for g in groups]
        passages = [_passage(g) for g in groups]
        result.timings_ms["shape"] = _ms(started)
        return passages

    def _expand(self, group: list[RankedHit], window: int, access: Access) -> list[RankedHit]:
        """Add up to `window` chunks on each side that belong to the same section and page (they carry no
        score: they were not found, only brought along)."""
        first, last = group[0].hit, group[-1].hit
        numbers = [n for n in range(first.chunk - window, first.chunk) if n >= 0]
        numbers += list(range(last.chunk + 1, last.chunk + window + 1))
        around = {h.chunk: h for h in self.index.fetch([point_id(first.document_id, n) for n in numbers], access)}
        before: list[RankedHit] = []
        after: list[RankedHit] = []
        for n in range(first.chunk - 1, first.chunk - window - 1, -1):  # walk outwards, stop at a section break
            hit = around.get(n)
            if hit is None or not _same_section(hit, first):
                break
            before.insert(0, RankedHit(hit, 0.0))
        for n in range(last.chunk + 1, last.chunk + window + 1):
            hit = around.get(n)
            if hit is None or not _same_section(hit, last):
                break
            after.append(RankedHit(hit, 0.0))
        return before + group + after


@dataclass(slots=True)
class RankedHit:
    """A chunk hit with the score the ranking uses now and the score of every stage so far."""

    hit: SearchHit
    score: float
    scores: dict[str, float] = field(default_factory=dict)


def group_hits(hits: list[RankedHit], *, k: int, max_per_document: int) -> list[list[RankedHit]]:
    """The top k passages as groups of consecutive chunks, in rank order.

    A hit next to a chosen chunk of the same section joins its group (and costs no slot); otherwise it opens a
    new group if fewer than k are open and its document has fewer than `max_per_document`.
    """
    groups: list[list[RankedHit]] = []
    per_document: dict[str, int] = {}
    for item in hits:
        group = next((g for g in groups if _adjacent(g, item.hit)), None)
        if group is not None:
            group.append(item)
            group.sort(key=lambda h: h.hit.chunk)
            bridged = next((g for g in groups if g is not group and _touching(group, g)), None)
            if bridged is not None:  # the hit filled the gap between two groups: they become one passage
                group.extend(bridged)
                group.sort(key=lambda h: h.hit.chunk)
                groups.remove(bridged)
                per_document[item.hit.document_id] -= 1
            continue
        document = item.hit.document_id
        if len(groups) >= k or per_document.get(document, 0) >= max_per_document:
            continue  # later hits may still join a chosen group
        per_document[document] = per_document.get(document, 0) + 1
        groups.append([item])
    return groups


def _rerank_text(hit: SearchHit) -> str:
    where = " > ".join((hit.title, *hit.headings)) if hit.title else " > ".join(hit.headings)
    return f"{where}\n{hit.text}" if where else hit.text


def _same_section(a: SearchHit, b: SearchHit) -> bool:
    return a.document_id == b.document_id and a.headings == b.headings and a.page == b.page


def _adjacent(group: list[RankedHit], hit: SearchHit) -> bool:
    first, last = group[0].hit, group[-1].hit
    return _same_section(first, hit) and (hit.chunk == first.chunk - 1 or hit.chunk == last.chunk + 1)


def _touching(a: list[RankedHit], b: list[RankedHit]) -> bool:
    return _same_section(a[0].hit, b[0].hit) and (
        b[0].hit.chunk == a[-1].hit.chunk + 1 or b[-1].hit.chunk == a[0].hit.chunk - 1
    )


def merge_text(left: str, right: str) -> str:
    """Join consecutive chunks, dropping the sentences they share (chunks overlap by whole sentences)."""
    limit = min(len(left), len(right))
    for size in range(limit, 0, -1):
        if left.endswith(right[:size]):
            return left + right[size:]
    return f"{left.rstrip()} {right.lstrip()}" if left and right else left + right


def _passage(group: list[RankedHit]) -> Passage:
    """One passage from consecutive chunks; its scores are the best of the chunks the search found."""
    first = group[0].hit
    text = first.text
    for item in group[1:]:
        text = merge_text(text, item.hit.text)
    found = [item for item in group if item.scores]
    scores: dict[str, float] = {}
    for item in found:
        for stage, value in item.scores.items():
            scores[stage] = max(scores.get(stage, value), value)
    return Passage(
        document_id=first.document_id,
        source=first.source,
        title=first.title,
        doc_type=first.doc_type,
        headings=first.headings,
        page=first.page,
        chunks=(first.chunk, group[-1].hit.chunk),
        text=text,
        language=first.language,
        score=max((item.score for item in found), default=0.0),
        scores=scores,
        modified=first.modified,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
