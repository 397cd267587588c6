"""The embedded index: Qdrant Edge on a local folder (the default; no server, no network).

Layout under the data folder: `qdrant-edge/<collection>/` holds the shard, `<collection>.json` beside it the
spec the collection was built with, and `<collection>.lock` the process lock. Edge takes its own lock on the
WAL, but its error ("Can't init WAL: WouldBlock") says nothing useful, so Docent takes a lock first and names
the process that holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as qe

from retrieval.access import Access, AllAccess
from retrieval.errors import IndexLockedError, IndexMismatchError
from retrieval.filters import SearchFilters, normalize_prefix
from retrieval.index import (
    DATETIME_FIELDS,
    DENSE,
    DENSE_MULTI,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    RRF_K,
    SPARSE,
    Fusion,
    IndexQuery,
    as_list,
    batched,
)
from retrieval.models import DocumentState, IndexedChunk, IndexSpec, SearchHit, point_id

UPSERT_BATCH = 256


def _match(key: str, value: str | int) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _access(access: Access) -> list[qe.FieldCondition]:
    """The `should` clause of the access rule (retrieval/access.py); empty for administrative access."""
    if isinstance(access, AllAccess):
        return []
    conditions = [_match("visibility", "public")]
    if access.tokens:
        conditions.append(qe.FieldCondition(key="acl", match=qe.MatchAny(list(access.tokens))))
    return conditions


def _filters(filters: SearchFilters) -> list[qe.FieldCondition]:
    must = []
    if filters.source_prefix:
        must.append(_match("path_prefixes", normalize_prefix(filters.source_prefix)))
    for key, values in (("doc_type", filters.doc_types), ("language", filters.languages), ("tags", filters.tags)):
        if values:
            must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(values))))
    if filters.modified_after or filters.modified_before:
        after, before = filters.modified_after, filters.modified_before
        must.append(qe.FieldCondition(key="modified_at", range=qe.RangeDateTime(
            gte=after.isoformat() if after else None, lte=before.isoformat() if before else None)))
    return must


def _filter(access: Access, filters: SearchFilters, *extra: qe.FieldCondition) -> qe.Filter | None:
    must, should = [*_filters(filters), *extra], _access(access)
    return qe.Filter(must=must or None, should=should or None) if must or should else None


class EdgeIndex:
    """An `Index` on Qdrant Edge. Single-process: a second opener gets `IndexLockedError`."""

    def __init__(self, data_dir: Path, spec: IndexSpec) -> None:
        self.spec = spec
        self.root = Path(data_dir) / "qdrant-edge"
        self.shard_dir = self.root / spec.collection
        self.spec_file = self.root / f"{spec.collection}.json"
        self.lock_file = self.root / f"{spec.collection}.lock"
        self._shard: qe.EdgeShard | None = None
        self._lock_fd: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._shard is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._check_spec()
            if (self.shard_dir / "segments").exists():
                self._shard = qe.EdgeShard.load(str(self.shard_dir))
            else:
                self._shard = qe.EdgeShard.create(str(self.shard_dir), self._config())
                for field in KEYWORD_FIELDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
                for field in INTEGER_FIELDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))
                for field in DATETIME_FIELDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Datetime))
                self.spec_file.write_text(json.dumps(self._spec_record(), indent=2))
        except BaseException:
            self._release_lock()
            raise

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        self._release_lock()

    def _config(self) -> qe.EdgeConfig:
        vectors = {DENSE: qe.EdgeVectorParams(size=self.spec.dense_size, distance=qe.Distance.Cosine)}
        if self.spec.multilingual_model:
            vectors[DENSE_MULTI] = qe.EdgeVectorParams(size=self.spec.multilingual_size, distance=qe.Distance.Cosine)
        return qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )

    def _spec_record(self) -> dict[str, object]:
        return {
            "model": self.spec.model,
            "dense_size": self.spec.dense_size,
            "multilingual_model": self.spec.multilingual_model,
            "multilingual_size": self.spec.multilingual_size,
        }

    def _check_spec(self) -> None:
        if not self.spec_file.exists():
            return
        stored = json.loads(self.spec_file.read_text())
        if stored != self._spec_record():
            raise IndexMismatchError(
                f"collection {self.spec.collection!r} in {self.root} was built with model "
                f"{stored.get('model')!r} ({stored.get('dense_size')}-d, "
                f"multilingual model {stored.get('multilingual_model') or 'none'}), "
                f"but the settings ask for {self.spec.model!r} ({self.spec.dense_size}-d, multilingual model "
                f"{self.spec.multilingual_model or 'none'}); use another collection name or re-index into a fresh data folder"
            )

    def _acquire_lock(self) -> None:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise IndexLockedError(
                f"the embedded index {self.shard_dir} is in use by another process (pid {holder}); "
                f"stop it, or use a Qdrant server (DOCENT_QDRANT__URL) for several processes"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise RuntimeError("EdgeIndex.start() was not called")
        return self._shard

    # -- writes ------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, revision: str, chunks: Sequence[IndexedChunk]) -> None:
        for batch in batched(chunks, UPSERT_BATCH):
            points = [qe.Point(id=c.id, vector=self._vectors(c), payload=c.payload()) for c in batch]
            self.shard.update(qe.UpdateOperation.upsert_points(points))
        stale = qe.Filter(must=[_match("document_id", document_id)], must_not=[_match("revision", revision)])
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(stale))

    def _vectors(self, chunk: IndexedChunk) -> dict[str, object]:
        vectors: dict[str, object] = {
            DENSE: as_list(chunk.dense),
            SPARSE: qe.SparseVector(chunk.sparse.indices, chunk.sparse.values),
        }
        if chunk.dense_multi is not None and self.spec.multilingual_model:
            vectors[DENSE_MULTI] = as_list(chunk.dense_multi)
        return vectors

    def delete_document(self, document_id: str) -> None:
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(qe.Filter(must=[_match("document_id", document_id)])))

    # -- reads -------------------------------------------------------------------------------------

    def count(self, document_id: str | None = None) -> int:
        flt = qe.Filter(must=[_match("document_id", document_id)]) if document_id else None
        return self.shard.count(qe.CountRequest(exact=True, filter=flt))

    def document_state(self, document_id: str) -> DocumentState | None:
        records = self.shard.retrieve([point_id(document_id, 0)], with_payload=True, with_vector=False)
        if not records:
            return None
        payload = records[0].payload or {}
        revision = str(payload["revision"])
        at_revision = self.shard.count(
            qe.CountRequest(exact=True, filter=qe.Filter(must=[_match("document_id", document_id), _match("revision", revision)]))
        )
        return DocumentState(
            document_id=document_id,
            source=str(payload["source"]),
            revision=revision,
            chunk_count=int(payload["chunk_count"]),
            points=self.count(document_id),
            points_at_revision=at_revision,
        )

    def documents(self) -> Iterator[tuple[str, str]]:
        offset = None
        first_chunks = qe.Filter(must=[_match("chunk", 0)])
        while True:
            records, offset = self.shard.scroll(
                qe.ScrollRequest(
                    offset=offset,
                    limit=512,
                    filter=first_chunks,
                    with_payload=qe.PayloadSelector.Include(["document_id", "source"]),
                )
            )
            for record in records:
                payload = record.payload or {}
                yield str(payload["document_id"]), str(payload["source"])
            if offset is None:
                return

    def search(self, query: IndexQuery) -> list[SearchHit]:
        flt = _filter(query.access, query.filters)
        nearest = []
        if query.dense is not None:
            nearest.append(qe.Query.Nearest(as_list(query.dense), using=query.dense_vector))
        if query.sparse is not None and query.sparse.indices:  # a query of stopwords only has no terms
            nearest.append(qe.Query.Nearest(qe.SparseVector(query.sparse.indices, query.sparse.values), using=SPARSE))
        if not nearest:
            return []
        with_vector = [query.dense_vector] if query.with_dense else False
        if len(nearest) == 1:
            request = qe.QueryRequest(
                query=nearest[0], filter=flt, limit=query.limit, with_payload=True, with_vector=with_vector
            )
        else:
            request = qe.QueryRequest(
                prefetches=[qe.Prefetch(query=q, filter=flt, limit=query.candidates) for q in nearest],
                query=qe.Fusion.Dbsf() if query.fusion is Fusion.DBSF else qe.Fusion.Rrf(k=RRF_K),
                filter=flt,
                limit=query.limit,
                with_payload=True,
                with_vector=with_vector,
            )
        return [self._hit(p, query.dense_vector) for p in self.shard.query(request)]

    def fetch(self, ids: Sequence[str], access: Access) -> list[SearchHit]:
        if not ids:
            return []
        flt = _filter(access, SearchFilters(), qe.HasIdCondition(set(ids)))
        records, _ = self.shard.scroll(qe.ScrollRequest(limit=len(ids), filter=flt, with_payload=True))
        return [SearchHit.from_payload(str(r.id), 0.0, r.payload or {}) for r in records]

    def optimize(self) -> None:
        self.shard.optimize()

    @staticmethod
    def _hit(point: qe.ScoredPoint, vector_name: str) -> SearchHit:
        vector = point.vector.get(vector_name) if isinstance(point.vector, dict) else None
        return SearchHit.from_payload(str(point.id), point.score, point.payload or {}, vector)
