"""BM25-style sparse vectors that Qdrant can score with its IDF modifier.

The document side stores the BM25 term-frequency part, tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl)); Qdrant
multiplies by IDF at query time (`Modifier.IDF`), and the query side is a plain 1.0 per distinct term. That is
BM25, computed inside Qdrant, without a corpus-wide statistics pass at index time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache

from retrieval.models import SparseVector
from retrieval.terms import ensure_jieba, terms


@lru_cache(maxsize=200_000)
def term_id(term: str) -> int:
    """A stable 32-bit id for a term (Python's hash() is salted per process, so it cannot be used)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


class SparseEncoder:
    """Encodes documents and queries into BM25 sparse vectors; the `k1`, `b`, `avgdl` of classic BM25."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avgdl: float = 120.0) -> None:
        self.k1 = k1
        self.b = b
        self.avgdl = avgdl

    def start(self) -> None:
        """Load the Chinese dictionary now rather than on the first Chinese text."""
        ensure_jieba()

    def encode_document(self, text: str) -> SparseVector:
        counts = Counter(term_id(t) for t in terms(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / self.avgdl)
        items = sorted(counts.items())
        return SparseVector(
            indices=[i for i, _ in items],
            values=[tf * (self.k1 + 1) / (tf + norm) for _, tf in items],
        )

    def encode_query(self, text: str) -> SparseVector:
        ids = sorted({term_id(t) for t in terms(text)})
        return SparseVector(indices=ids, values=[1.0] * len(ids))
