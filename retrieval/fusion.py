"""Fusion of the ranked lists of a hybrid search: the main dense model, the multilingual one and BM25.

The default rule ("adaptive") was chosen on six sets and checked leave-one-set-out (bench/fusion.py; the table
is in bench/README.md). It rests on three ideas, each a rule rather than a constant fitted to a data set:

1. A list only speaks about what its model knows. A monolingual model's cosine between an English question and
   a Chinese passage (or a Chinese question and anything) is noise, and BM25 cannot match words across
   languages; so each list keeps only the candidates it can judge for this query's language.
2. Every list is normalised by its own score distribution (mean ± 3 standard deviations, as Qdrant's DBSF, but
   not clipped at the top, so the clear winners of a list stay apart), and a passage's score is the weighted
   *mean* over the lists that can judge it. A passage in the other language, which only the multilingual model
   can judge, then competes on equal terms with one that every list judges: a sum would bury it.
3. Each list is weighted by its confidence on this query: how far its best candidate stands above its tenth,
   in the list's standard deviations. A list with a clear winner outweighs a flat one, so a weak side (a model
   that knows the language badly) pulls a strong one down less.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

RRF_K = 60  # reciprocal rank fusion's constant, from the original paper (and Qdrant's default)
CONFIDENCE_RANK = 10  # the confidence compares the best candidate with the one at this rank
MIN_WEIGHT = 0.1  # a flat list still counts a little


class Fusion(StrEnum):
    """The fusion rules; ADAPTIVE is Docent's, the others are what it was measured against."""

    ADAPTIVE = "adaptive"  # 1 + 2 + 3 above
    COVERAGE = "coverage"  # 1 + 2, every list weighted alike
    LANGUAGE = "language"  # 1, then DBSF's sum
    DBSF = "dbsf"  # Qdrant's distribution-based score fusion of every list
    RRF = "rrf"  # reciprocal rank fusion of every list


@dataclass(frozen=True, slots=True)
class Candidate:
    key: str  # the point id (one chunk)
    language: str  # the chunk's language
    score: float


@dataclass(frozen=True, slots=True)
class RankedList:
    """One side of the hybrid search, best first.

    `languages`: those its model knows (empty: all). `crosses`: whether it can match a query and a passage in
    different languages (a multilingual model can; BM25 and a monolingual model cannot)."""

    name: str
    candidates: Sequence[Candidate]
    languages: frozenset[str] = frozenset()
    crosses: bool = True

    def speaks(self, language: str) -> bool:
        return not self.languages or language in self.languages

    def judges(self, query_language: str, language: str) -> bool:
        """Whether the list's score says anything about a passage in `language` for a query in the other."""
        return self.speaks(query_language) and self.speaks(language) and (self.crosses or language == query_language)


def fuse(
    lists: Sequence[RankedList], *, query_language: str, rule: Fusion = Fusion.ADAPTIVE, depth: int = 100
) -> list[Candidate]:
    """The candidates of every list (its first `depth`) in one ranking, best first, scored by `rule`."""
    if rule in (Fusion.ADAPTIVE, Fusion.COVERAGE, Fusion.LANGUAGE):
        lists = [_judged(lst, query_language) for lst in lists]
    lists = [
        RankedList(lst.name, list(lst.candidates)[:depth], lst.languages, lst.crosses)
        for lst in lists
        if lst.candidates
    ]
    if not lists:
        return []
    if rule is Fusion.RRF:
        parts = [{c.key: 1.0 / (RRF_K + rank) for rank, c in enumerate(lst.candidates, start=1)} for lst in lists]
    else:
        parts = [normalised(lst, clip=rule in (Fusion.DBSF, Fusion.LANGUAGE)) for lst in lists]
    weights = [confidence(lst) if rule is Fusion.ADAPTIVE else 1.0 for lst in lists]
    fused: dict[str, float] = {}
    first: dict[str, Candidate] = {}
    for scores, weight, lst in zip(parts, weights, lists, strict=True):
        for c in lst.candidates:
            fused[c.key] = fused.get(c.key, 0.0) + weight * scores[c.key]
            first.setdefault(c.key, c)
    if rule in (Fusion.ADAPTIVE, Fusion.COVERAGE):
        for key, c in first.items():
            judging = sum(w for w, lst in zip(weights, lists, strict=True) if lst.judges(query_language, c.language))
            fused[key] /= judging
    order = sorted(fused, key=lambda key: -fused[key])
    return [Candidate(key, first[key].language, fused[key]) for key in order]


def _judged(lst: RankedList, query_language: str) -> RankedList:
    kept = [c for c in lst.candidates if lst.judges(query_language, c.language)]
    return RankedList(lst.name, kept, lst.languages, lst.crosses)


def _spread(scores: Sequence[float]) -> tuple[float, float]:
    mean = sum(scores) / len(scores)
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))


def normalised(lst: RankedList, *, clip: bool) -> dict[str, float]:
    """DBSF's normalisation: (score − (μ − 3σ)) / 6σ over the list's scores, at least 0 (at most 1 if `clip`)."""
    mean, spread = _spread([c.score for c in lst.candidates])
    if spread == 0:
        return {c.key: 1.0 for c in lst.candidates}
    low, width = mean - 3 * spread, 6 * spread
    top = 1.0 if clip else math.inf
    return {c.key: min(top, max(0.0, (c.score - low) / width)) for c in lst.candidates}


def confidence(lst: RankedList) -> float:
    """How far the best candidate stands above the one at CONFIDENCE_RANK, in the list's standard deviations."""
    scores = [c.score for c in lst.candidates]
    if len(scores) < 2:
        return 1.0
    _, spread = _spread(scores)
    if spread == 0:
        return MIN_WEIGHT
    return max(MIN_WEIGHT, (scores[0] - scores[min(CONFIDENCE_RANK, len(scores)) - 1]) / spread)
