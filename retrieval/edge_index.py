"""The embedded index: Qdrant Edge on a local folder (the default; no server, no network).

Layout under the data folder: `qdrant-edge/<version>/` holds a shard, `<version>.json` beside it the spec the
version was built with, and `<version>.lock` the process lock; `<collection>.current` names the version that
serves (`retrieval.versions`; without it, the version named like the collection). Edge takes its own lock on
the WAL, but its error ("Can't init WAL: WouldBlock") says nothing useful, so Docent takes a lock first and
names the process that holds it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import qdrant_edge as qe

from retrieval.access import Access, AllAccess
from retrieval.errors import IndexLockedError, IndexMismatchError
from retrieval.filters import SearchFilters, normalize_prefix
from retrieval.index import (
    DATETIME_FIELDS,
    DENSE,
    DENSE_MULTI,
    EXACT_SCAN_POINTS,
    HNSW_EF,
    INTEGER_FIELDS,
    KEYWORD_FIELDS,
    OVERSAMPLING,
    RRF_K,
    SPARSE,
    Fusion,
    IndexQuery,
    as_list,
    batched,
)
from retrieval.models import (
    DocumentGrant,
    DocumentState,
    IndexedChunk,
    IndexSpec,
    SearchHit,
    access_payload,
    point_id,
)
from retrieval.versions import FOLLOW_EVERY_S, RETIRE_AFTER_S, read_pointer

UPSERT_BATCH = 256
QUANTILE = 0.99  # of the int8 copy's value range: the outer 1 % is clipped rather than widening every step
log = logging.getLogger("docent.index")


def _match(key: str, value: str | int) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def _access(access: Access) -> list[qe.ConditionType]:
    """The `should` clause of the access rule (retrieval/access.py); empty for administrative access."""
    if isinstance(access, AllAccess):
        return []
    conditions: list[qe.ConditionType] = [_match("visibility", "public")]
    if access.tokens:
        conditions.append(qe.FieldCondition(key="acl", match=qe.MatchAny(list(access.tokens))))
    return conditions


def _filters(filters: SearchFilters) -> list[qe.ConditionType]:
    must: list[qe.ConditionType] = []
    if filters.source_prefix:
        must.append(_match("path_prefixes", normalize_prefix(filters.source_prefix)))
    for key, values in (("doc_type", filters.doc_types), ("language", filters.languages), ("tags", filters.tags)):
        if values:
            must.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(values))))
    if filters.modified_after or filters.modified_before:
        after, before = filters.modified_after, filters.modified_before
        must.append(
            qe.FieldCondition(
                key="modified_at",
                range=qe.RangeDateTime(
                    gte=after.isoformat() if after else None, lte=before.isoformat() if before else None
                ),
            )
        )
    return must


def _filter(access: Access, filters: SearchFilters, *extra: qe.ConditionType) -> qe.Filter | None:
    must, should = [*_filters(filters), *extra], _access(access)
    return qe.Filter(must=must or None, should=should or None) if must or should else None


def _params(visible: int | None) -> qe.SearchParams:
    """Exact search when the filter leaves few points (`visible`: the payload index's estimate; None: no filter),
    else the HNSW walk (see `EXACT_SCAN_POINTS`)."""
    if visible is not None and visible <= EXACT_SCAN_POINTS:
        return qe.SearchParams(exact=True)
    return qe.SearchParams(
        hnsw_ef=HNSW_EF, quantization=qe.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
    )


def _fusion(fusion: Fusion) -> qe.Fusion:
    # The stub declares Dbsf and Rrf as classes nested in Fusion, not as its subclasses, which they are.
    return cast(qe.Fusion, qe.Fusion.Dbsf() if fusion is Fusion.DBSF else qe.Fusion.Rrf(k=RRF_K))


class EdgeIndex:
    """An `Index` on Qdrant Edge. Single-process: a second opener of a version gets `IndexLockedError`.

    `version` pins one version (what `docent reindex` builds); without it the pointer decides at `start()`, and
    with `follow` the index moves to the version the pointer names later, once that version is free and built
    with the same settings (a serving process during a reindex). `check_spec=False` opens a version built with
    other settings (reading its document list for a reindex)."""

    def __init__(
        self,
        data_dir: Path,
        spec: IndexSpec,
        *,
        version: str | None = None,
        follow: bool = False,
        check_spec: bool = True,
    ) -> None:
        self.spec = spec
        self.root = Path(data_dir) / "qdrant-edge"
        self.pinned = version
        self.follow = follow and version is None
        self.check_spec = check_spec
        self.version = version or spec.collection
        self._shard: qe.EdgeShard | None = None
        self._lock_fd: int | None = None
        self._retired: list[tuple[float, qe.EdgeShard, int, str]] = []  # (when, shard, lock, version)
        self._looked_at = 0.0
        self._refused: str | None = None  # the version the pointer names but this process cannot serve
        self._switching = threading.Lock()

    @property
    def shard_dir(self) -> Path:
        return self.root / self.version

    @property
    def spec_file(self) -> Path:
        return self.root / f"{self.version}.json"

    @property
    def lock_file(self) -> Path:
        return self.root / f"{self.version}.lock"

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._shard is not None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.version = self.pinned or read_pointer(self.root, self.spec.collection)
        self._shard, self._lock_fd = self._open(self.version)
        self._looked_at = time.monotonic()

    def _open(self, version: str) -> tuple[qe.EdgeShard, int]:
        """Lock, check and open (or create) one version's shard."""
        fd = _lock(self.root / f"{version}.lock", self.root / version)
        try:
            if self.check_spec:
                self._check_spec(version)
            shard_dir = self.root / version
            if (shard_dir / "segments").exists():
                return qe.EdgeShard.load(str(shard_dir)), fd
            shard = qe.EdgeShard.create(str(shard_dir), self._config())
            for field in KEYWORD_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
            for field in INTEGER_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Integer))
            for field in DATETIME_FIELDS:
                shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Datetime))
            (self.root / f"{version}.json").write_text(json.dumps(self._spec_record(), indent=2))
            return shard, fd
        except BaseException:
            _unlock(fd)
            raise

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        self._release_lock()
        for _, shard, fd, _ in self._retired:
            shard.close()
            _unlock(fd)
        self._retired = []

    def _config(self) -> qe.EdgeConfig:
        """A new version's storage. Everything is memory-mapped and read on demand (`Memory.Cold`) rather than
        read into the page cache when the shard opens: the index's size then shows in RSS only as far as
        searches touch it, and the kernel takes those pages back under pressure (bench/README.md, "Ingest
        memory": 20k chunks open with 126 MiB of file pages mapped instead of 194, search time unchanged).

        The HNSW graphs walk an int8 copy of the dense vectors held in memory (a quarter of the floats' size: 0.9
        GB for both models at a million chunks, where the floats are 3.6 GB) and rescore the best with the float
        vectors (`retrieval.index.HNSW_EF`). At 100k chunks the graphs built in 66 s instead of 137, and a
        question's three lists took the same time (14.0 against 15.0 ms p50; bench/scale.py)."""
        cold = qe.Memory.Cold
        vectors = {DENSE: qe.EdgeVectorParams(size=self.spec.dense_size, distance=qe.Distance.Cosine, memory=cold)}
        if self.spec.multilingual_model:
            vectors[DENSE_MULTI] = qe.EdgeVectorParams(
                size=self.spec.multilingual_size, distance=qe.Distance.Cosine, memory=cold
            )
        return qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=cold)},
            quantization_config=qe.ScalarQuantizationConfig(
                type=qe.ScalarType.Int8, quantile=QUANTILE, memory=qe.Memory.Pinned
            ),
            payload_memory=cold,
            id_tracker_memory=cold,
        )

    def _spec_record(self) -> dict[str, object]:
        return {
            "model": self.spec.model,
            "dense_size": self.spec.dense_size,
            "multilingual_model": self.spec.multilingual_model,
            "multilingual_size": self.spec.multilingual_size,
        }

    def stored_spec(self, version: str | None = None) -> dict[str, object] | None:
        """The spec a version was built with (None: not built yet)."""
        spec_file = self.root / f"{version or self.version}.json"
        return json.loads(spec_file.read_text()) if spec_file.exists() else None

    def _check_spec(self, version: str) -> None:
        stored = self.stored_spec(version)
        if stored is not None and stored != self._spec_record():
            raise IndexMismatchError(
                f"index version {version!r} in {self.root} was built with model "
                f"{stored.get('model')!r} ({stored.get('dense_size')}-d, "
                f"multilingual model {stored.get('multilingual_model') or 'none'}), "
                f"but the settings ask for {self.spec.model!r} ({self.spec.dense_size}-d, multilingual model "
                f"{self.spec.multilingual_model or 'none'}); run `docent reindex` with these settings to rebuild it "
                f"into a new version (the current one keeps serving until the switch)"
            )

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise RuntimeError("EdgeIndex.start() was not called")
        if self.follow and time.monotonic() - self._looked_at >= FOLLOW_EVERY_S:
            self._follow_pointer()
        return self._shard

    def _follow_pointer(self) -> None:
        """Move to the version the pointer names, if it changed and this process can serve it; close the
        versions replaced long enough ago that no search still uses them."""
        if not self._switching.acquire(blocking=False):
            return  # another thread is looking
        try:
            now = time.monotonic()
            self._looked_at = now
            for item in [r for r in self._retired if now - r[0] >= RETIRE_AFTER_S]:
                self._retired.remove(item)
                item[1].close()
                _unlock(item[2])
            target = read_pointer(self.root, self.spec.collection)
            if target == self.version or target == self._refused:
                return
            if self.stored_spec(target) != self._spec_record():
                self._refused = target
                log.warning(
                    "the index now points at version %s, built with other settings: this process keeps "
                    "serving %s until it is restarted with that version's settings",
                    target,
                    self.version,
                )
                return
            again = next((r for r in self._retired if r[3] == target), None)
            if again is not None:  # switched back within the grace period: it is still open here
                self._retired.remove(again)
                shard, fd = again[1], again[2]
            else:
                try:
                    shard, fd = self._open(target)
                except IndexLockedError:
                    return  # still being written (the reindex has not closed it yet): next time
            assert self._shard is not None and self._lock_fd is not None
            self._retired.append((now, self._shard, self._lock_fd, self.version))
            log.info("index switched from version %s to %s", self.version, target)
            self._shard, self._lock_fd, self.version = shard, fd, target
        finally:
            self._switching.release()

    # -- writes ------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, revision: str, chunks: Sequence[IndexedChunk]) -> None:
        self.upsert(chunks)
        stale = qe.Filter(must=[_match("document_id", document_id)], must_not=[_match("revision", revision)])
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(stale))

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Write chunks as they are, removing nothing: `replace_document`'s first half, and a bulk load of many
        documents at once (bench/scale.py writes a million chunks this way)."""
        for batch in batched(chunks, UPSERT_BATCH):
            points = [qe.Point(id=c.id, vector=self._vectors(c), payload=c.payload()) for c in batch]
            self.shard.update(qe.UpdateOperation.upsert_points(points))

    def _vectors(self, chunk: IndexedChunk) -> dict[str, qe.NamedVector]:
        vectors: dict[str, qe.NamedVector] = {
            DENSE: as_list(chunk.dense),
            SPARSE: qe.SparseVector(chunk.sparse.indices, chunk.sparse.values),
        }
        if chunk.dense_multi is not None and self.spec.multilingual_model:
            vectors[DENSE_MULTI] = as_list(chunk.dense_multi)
        return vectors

    def delete_document(self, document_id: str) -> None:
        self.shard.update(
            qe.UpdateOperation.delete_points_by_filter(qe.Filter(must=[_match("document_id", document_id)]))
        )

    def update_access(self, document_id: str, acl: Sequence[str], public: bool) -> None:
        self.shard.update(
            qe.UpdateOperation.set_payload_by_filter(
                qe.Filter(must=[_match("document_id", document_id)]), access_payload(acl, public)
            )
        )

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
            qe.CountRequest(
                exact=True, filter=qe.Filter(must=[_match("document_id", document_id), _match("revision", revision)])
            )
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
        for payload in self._first_chunks(["document_id", "source"]):
            yield str(payload["document_id"]), str(payload["source"])

    def grants(self) -> Iterator[DocumentGrant]:
        for payload in self._first_chunks(["document_id", "source", "acl", "visibility", "tags", "marker"]):
            yield DocumentGrant.from_payload(payload)

    def _first_chunks(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        first_chunks = qe.Filter(must=[_match("chunk", 0)])
        while True:
            records, offset = self.shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=512, filter=first_chunks, with_payload=qe.PayloadSelector.Include(fields)
                )
            )
            for record in records:
                yield record.payload or {}
            if offset is None:
                return

    def search(self, query: IndexQuery) -> list[SearchHit]:
        return self.search_many([query])[0]

    def search_many(self, queries: Sequence[IndexQuery]) -> list[list[SearchHit]]:
        counts: dict[tuple[Access, SearchFilters], int] = {}  # the lists of one question share their filters
        requests = [self._request(query, counts) for query in queries]
        planned = [r for r in requests if r is not None]
        results = iter(self.shard.query_batch(qe.QueryBatchRequest(planned)) if planned else [])
        return [
            [] if r is None else [self._hit(p, q.dense_vector) for p in next(results)]
            for q, r in zip(queries, requests, strict=True)
        ]

    def _request(self, query: IndexQuery, counts: dict[tuple[Access, SearchFilters], int]) -> qe.QueryRequest | None:
        """`query` as Qdrant's request; None when it has nothing to search with."""
        flt = _filter(query.access, query.filters)
        nearest = []
        if query.dense is not None:
            nearest.append(qe.Query.Nearest(as_list(query.dense), using=query.dense_vector))
        if query.sparse is not None and query.sparse.indices:  # a query of stopwords only has no terms
            nearest.append(qe.Query.Nearest(qe.SparseVector(query.sparse.indices, query.sparse.values), using=SPARSE))
        if not nearest:
            return None
        with_vector = [query.dense_vector] if query.with_dense else False
        payload = True if query.fields is None else qe.PayloadSelector.Include(list(query.fields))
        params = None
        if query.dense is not None:
            key = (query.access, query.filters)
            if flt is not None and key not in counts:
                counts[key] = self.shard.count(qe.CountRequest(exact=False, filter=flt))
            params = _params(counts.get(key))
        if len(nearest) == 1:
            return qe.QueryRequest(
                query=nearest[0],
                filter=flt,
                params=params,
                limit=query.limit,
                with_payload=payload,
                with_vector=with_vector,
            )
        return qe.QueryRequest(
            prefetches=[qe.Prefetch(query=q, filter=flt, params=params, limit=query.candidates) for q in nearest],
            query=_fusion(query.fusion),
            filter=flt,
            limit=query.limit,
            with_payload=payload,
            with_vector=with_vector,
        )

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
        dense = cast("list[float] | None", vector)  # the named vector is a dense one: a list of floats
        return SearchHit.from_payload(str(point.id), point.score, point.payload or {}, dense)


def _lock(lock_file: Path, shard_dir: Path) -> int:
    """An exclusive lock on one version, holding this process's pid; `IndexLockedError` naming its holder."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise IndexLockedError(
            f"the embedded index {shard_dir} is in use by another process (pid {holder}); "
            f"stop it, or use a Qdrant server (DOCENT_QDRANT__URL) for several processes"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
