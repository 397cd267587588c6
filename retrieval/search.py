"""Query → hits: embed the query both ways and let Qdrant fuse a dense and a sparse prefetch."""

from __future__ import annotations

from retrieval.embedding import Embedder
from retrieval.index import Index
from retrieval.models import SearchHit
from retrieval.sparse import SparseEncoder


class Searcher:
    """Hybrid search over an index. `candidates` is each prefetch's depth before fusion."""

    def __init__(self, index: Index, embedder: Embedder, sparse: SparseEncoder, *, candidates: int = 100) -> None:
        self.index = index
        self.embedder = embedder
        self.sparse = sparse
        self.candidates = candidates

    def search(self, query: str, *, k: int = 10) -> list[SearchHit]:
        if not query.strip():
            return []
        dense = self.embedder.embed_query(query)
        sparse = self.sparse.encode_query(query)
        return self.index.search(dense, sparse, limit=k, candidates=max(self.candidates, k))
