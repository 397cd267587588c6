"""Domain types shared by ingestion and retrieval: what a chunk is, what the index stores, what a search returns.

They live here because the index is the one thing both sides agree on. The payload keys written by
`IndexedChunk.payload()` are a stored format: renaming one needs a re-index.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from retrieval.filters import path_prefixes

# A fixed namespace so that point ids are the same on every machine and every run.
POINT_NAMESPACE = uuid.UUID("5a0c3d6e-8a52-4f0b-9a49-1d1f6c0e2b77")


def point_id(document_id: str, chunk_number: int) -> str:
    """The point id of a chunk: uuid5(document id, chunk number), so re-ingesting overwrites in place."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{document_id}#{chunk_number}"))


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term weights keyed by a stable 32-bit term hash; Qdrant applies IDF at query time."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from inside the document."""

    number: int
    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None
    language: str = "en"


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """What is known about one source document when it is written to the index.

    `content_hash` is the sha256 of the file's bytes; `revision` also covers the chunking and embedding
    settings, so changing either re-indexes the document. Stale chunks are those with another revision.
    """

    document_id: str
    source: str
    title: str
    doc_type: str
    content_hash: str
    revision: str
    modified_at: datetime
    ingested_at: datetime
    acl: tuple[str, ...] = ()
    public: bool = False
    chunk_count: int = 0
    tags: tuple[str, ...] = ()
    marker: str = ""  # a connector's modification marker (ETag, version): what `docent sync` compares


@dataclass(frozen=True, slots=True)
class IndexedChunk:
    """A chunk ready for the index: its document, its text, and its vectors (`dense_multi` when
    the collection has a multilingual vector)."""

    document: DocumentMeta
    chunk: Chunk
    dense: np.ndarray | list[float]
    sparse: SparseVector
    dense_multi: np.ndarray | list[float] | None = None

    @property
    def id(self) -> str:
        return point_id(self.document.document_id, self.chunk.number)

    def payload(self) -> dict[str, object]:
        d, c = self.document, self.chunk
        return {
            "document_id": d.document_id,
            "source": d.source,
            "path_prefixes": path_prefixes(d.source),
            "title": d.title,
            "doc_type": d.doc_type,
            "content_hash": d.content_hash,
            "revision": d.revision,
            "modified_at": d.modified_at.isoformat(),
            "ingested_at": d.ingested_at.isoformat(),
            **access_payload(d.acl, d.public),
            "tags": list(d.tags),
            "marker": d.marker,
            "chunk_count": d.chunk_count,
            "chunk": c.number,
            "headings": list(c.headings),
            "page": c.page,
            "language": c.language,
            "text": c.text,
        }


def access_payload(acl: Sequence[str], public: bool) -> dict[str, object]:
    """The payload fields that say who may read a point (what `Index.update_access` rewrites)."""
    # A keyword rather than a bool: Qdrant Edge's Python binding cannot match booleans (it sends 1).
    return {"acl": list(acl), "visibility": "public" if public else "restricted"}


@dataclass(frozen=True, slots=True)
class DocumentGrant:
    """Where a document came from and who may read it: what rebuilding it from its source needs."""

    document_id: str
    source: str
    acl: tuple[str, ...]
    public: bool
    tags: tuple[str, ...]
    marker: str = ""  # the source's modification marker when a connector wrote it

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DocumentGrant:
        return cls(
            str(payload["document_id"]),
            str(payload["source"]),
            tuple(payload.get("acl") or ()),
            payload.get("visibility") == "public",
            tuple(payload.get("tags") or ()),
            str(payload.get("marker") or ""),
        )


@dataclass(frozen=True, slots=True)
class DocumentState:
    """What the index holds for one document: enough to decide whether a file is unchanged."""

    document_id: str
    source: str
    revision: str
    chunk_count: int
    points: int
    points_at_revision: int

    @property
    def complete(self) -> bool:
        """True when every chunk of the stored revision is present and nothing else is."""
        return self.points == self.points_at_revision == self.chunk_count


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """What a collection must match: its name, the embedding model and the dense vector size, and the
    multilingual model of the second vector (empty when the collection has none)."""

    collection: str
    model: str
    dense_size: int
    multilingual_model: str = ""
    multilingual_size: int = 0


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One chunk returned by a search, with the fields a person needs to find it in the source."""

    id: str
    score: float
    document_id: str
    source: str
    title: str
    headings: tuple[str, ...]
    page: int | None
    chunk: int
    text: str
    language: str = "en"
    doc_type: str = ""
    dense: tuple[float, ...] | None = None
    modified: str | None = None  # the document's modification time, ISO 8601 (the payload's `modified_at`)

    @classmethod
    def from_payload(
        cls, point_id: str, score: float, payload: Mapping[str, Any], dense: Sequence[float] | None = None
    ) -> SearchHit:
        page = payload.get("page")
        return cls(
            id=str(point_id),
            score=float(score),
            document_id=str(payload.get("document_id", "")),
            source=str(payload.get("source", "")),
            title=str(payload.get("title", "")),
            headings=tuple(payload.get("headings") or ()),
            page=int(page) if isinstance(page, int) else None,
            chunk=int(payload.get("chunk", 0)),
            text=str(payload.get("text", "")),
            language=str(payload.get("language", "en")),
            doc_type=str(payload.get("doc_type", "")),
            dense=tuple(dense) if dense is not None else None,
            modified=str(payload["modified_at"]) if payload.get("modified_at") else None,
        )
