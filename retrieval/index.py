"""The index interface: the one seam between Docent and Qdrant.

Two adapters implement it — `EdgeIndex` (Qdrant Edge, embedded, the default) and `QdrantServerIndex`
(a Qdrant server or cluster through qdrant-client) — and one contract suite (tests/contract) runs against both.
Every Qdrant call stays inside those two modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from retrieval.models import DocumentState, IndexedChunk, IndexSpec, SearchHit, SparseVector

DENSE = "dense"
SPARSE = "sparse"
# The fusion constant of reciprocal rank fusion; 60 is the value of the original paper and Qdrant's default.
RRF_K = 60

# Payload fields that get an index: everything that filters or drives replace/prune.
KEYWORD_FIELDS = ("document_id", "revision", "source", "acl", "language", "doc_type")
INTEGER_FIELDS = ("chunk",)


class Index(Protocol):
    """A collection of chunks with a dense and a sparse vector each.

    Contract:
    - `start()` opens the store and creates the collection if it is missing; an existing collection whose model
      or vector size differs from `spec` raises `IndexMismatchError`. Nothing else does I/O before it.
    - `replace_document()` is idempotent: afterwards the document's points are exactly `chunks`. New chunks are
      written before stale ones (other revisions) are removed, so the document never disappears in between.
    - `delete_document()` removes every point of a document; deleting an unknown document is not an error.
    - `close()` releases the store (an embedded store holds a lock on its folder until then).
    """

    spec: IndexSpec

    def start(self) -> None: ...

    def close(self) -> None: ...

    def replace_document(self, document_id: str, revision: str, chunks: Sequence[IndexedChunk]) -> None: ...

    def delete_document(self, document_id: str) -> None: ...

    def document_state(self, document_id: str) -> DocumentState | None: ...

    def documents(self) -> Iterator[tuple[str, str]]:
        """Every indexed document as (document id, source)."""
        ...

    def count(self, document_id: str | None = None) -> int: ...

    def search(self, dense: np.ndarray, sparse: SparseVector, *, limit: int, candidates: int) -> list[SearchHit]:
        """Hybrid search: a dense and a sparse prefetch of `candidates` each, fused by RRF inside Qdrant."""
        ...


def batched(items: Sequence[IndexedChunk], size: int) -> Iterator[Sequence[IndexedChunk]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_list(vector: np.ndarray | Sequence[float]) -> list[float]:
    return vector.tolist() if isinstance(vector, np.ndarray) else list(vector)
