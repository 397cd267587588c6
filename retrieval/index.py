"""The index interface: the one seam between Docent and Qdrant.

Two adapters implement it — `EdgeIndex` (Qdrant Edge, embedded, the default) and `QdrantServerIndex`
(a Qdrant server or cluster through qdrant-client) — and one contract suite (tests/contract) runs against both.
Every Qdrant call stays inside those two modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from retrieval.access import ALL_ACCESS, Access
from retrieval.filters import NO_FILTERS, SearchFilters
from retrieval.models import DocumentGrant, DocumentState, IndexedChunk, IndexSpec, SearchHit, SparseVector

DENSE = "dense"
# The second dense vector, from a multilingual model, on every chunk (see IndexSpec.multilingual_model).
DENSE_MULTI = "multilingual"
SPARSE = "sparse"
# The fusion constant of reciprocal rank fusion; 60 is the value of the original paper and Qdrant's default.
RRF_K = 60

# How both adapters search the dense lists; measured at 100k and 1M chunks by bench/scale.py (bench/README.md,
# "A million chunks"), where recall@10 is the approximate search's against exact search:
# - Unfiltered, the walk over the int8 copy with Qdrant's defaults (ef 100, no oversampling) found 0.88 (MiniLM)
#   and 0.85 (USE) at 1M. Twice the candidates rescored with the float vectors and ef 200 reach 0.96 for 0.4-0.6
#   ms more; ef alone reaches 0.89.
# - A filter (a user's ACL) that leaves a small share of the points is the walk's weak spot: it passes through
#   points it must not return, and the ones it may return are poorly linked. At 100k chunks a user who sees 7 %
#   (7.7k points) got 0.69 and 0.51 from the walk, 0.97 from ACORN at 10-12 ms, and 1.0 from an exact scan of
#   those points at 1.2-1.4 ms. At 1M (75k visible) the scan costs 20-27 ms and ACORN 42-51 ms, while the walk
#   reaches 0.97 (Qdrant links the points of each ACL group once the group is large). So a filtered search first
#   asks the payload index how many points the filter leaves (an estimate, 0.05-0.2 ms) and scans them exactly
#   when they are few enough that scanning costs about what a walk does.
HNSW_EF = 200
OVERSAMPLING = 2.0
EXACT_SCAN_POINTS = 20_000

# What ranking needs of a hit: fusion judges by language, shaping caps hits per document.
RANKING_FIELDS = ("document_id", "chunk", "language")

# Payload fields that get an index: everything that filters or drives replace/prune.
KEYWORD_FIELDS = (
    "document_id",
    "revision",
    "source",
    "path_prefixes",
    "acl",
    "visibility",
    "language",
    "doc_type",
    "tags",
)
INTEGER_FIELDS = ("chunk",)
DATETIME_FIELDS = ("modified_at",)


class Fusion(StrEnum):
    """How the dense and sparse prefetches are combined inside Qdrant.

    DBSF (distribution-based score fusion) normalizes each list's scores by its mean ± 3 standard deviations
    and adds them, so a confident list (one clear winner) outweighs a flat one; RRF adds 1/(k + rank) and
    ignores how far apart the scores are. bench/README.md has the measurements behind the default.
    """

    DBSF = "dbsf"
    RRF = "rrf"


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """One search as the index runs it, in a single `query_points` call.

    With both vectors the two prefetches (each `candidates` deep, each filtered by `access` and `filters`)
    are fused; with one of them it is a plain nearest search of that vector. `dense_vector` names the dense
    vector to search (`DENSE`, or `DENSE_MULTI` for a CJK query when the collection has it).
    """

    limit: int
    dense: np.ndarray | None = None
    sparse: SparseVector | None = None
    dense_vector: str = DENSE
    candidates: int = 100
    fusion: Fusion = Fusion.DBSF
    access: Access = ALL_ACCESS
    filters: SearchFilters = NO_FILTERS
    with_dense: bool = False  # return each hit's `dense_vector` (to report the dense stage's score)
    # The payload fields each hit carries (None: all). Reading the payloads, the chunk texts above all, is half of
    # a search at a million chunks (bench/README.md, "A million chunks"), so the retriever ranks with a few
    # fields (`RANKING_FIELDS`) and fetches the whole payload of only the hits that survive fusion.
    fields: tuple[str, ...] | None = None


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

    def update_access(self, document_id: str, acl: Sequence[str], public: bool) -> None:
        """Set who may read every point of a document, without touching its vectors or text (a permission
        changed at the source)."""
        ...

    def document_state(self, document_id: str) -> DocumentState | None: ...

    def documents(self) -> Iterator[tuple[str, str]]:
        """Every indexed document as (document id, source)."""
        ...

    def grants(self) -> Iterator[DocumentGrant]:
        """Every document's source, access and marker (from its first chunk): what a reindex rebuilds it from,
        and what a sync compares with its source."""
        ...

    def count(self, document_id: str | None = None) -> int: ...

    def search(self, query: IndexQuery) -> list[SearchHit]:
        """The hits of `query`, best first; points the query's access cannot see are never returned."""
        ...

    def search_many(self, queries: Sequence[IndexQuery]) -> list[list[SearchHit]]:
        """`search` of each query, in one call to the store: the retriever's three or four lists of a question
        are one planned batch (Edge) or one round trip (a server), not one each."""
        ...

    def fetch(self, ids: Sequence[str], access: Access) -> list[SearchHit]:
        """The points with these ids that `access` may see (others are silently absent), in no set order."""
        ...

    def optimize(self) -> None:
        """Build the vector indexes (HNSW) after a large write; searches are exact until then."""
        ...


def batched(items: Sequence[IndexedChunk], size: int) -> Iterator[Sequence[IndexedChunk]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_list(vector: np.ndarray | Sequence[float]) -> list[float]:
    return vector.tolist() if isinstance(vector, np.ndarray) else list(vector)
