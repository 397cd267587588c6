"""The server index: a Qdrant server or cluster through qdrant-client (also its in-process `:memory:` mode).

The collection records the embedding model in its metadata, so a collection built with another model is
refused at start instead of returning nonsense later. Every client error becomes `IndexUnavailableError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from retrieval.access import Access, AllAccess
from retrieval.errors import IndexMismatchError, IndexUnavailableError
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


def _match(key: str, value: str | int) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _access(access: Access) -> list[models.FieldCondition]:
    """The `should` clause of the access rule (retrieval/access.py); empty for administrative access."""
    if isinstance(access, AllAccess):
        return []
    conditions = [_match("visibility", "public")]
    if access.tokens:
        conditions.append(models.FieldCondition(key="acl", match=models.MatchAny(any=list(access.tokens))))
    return conditions


def _filters(filters: SearchFilters) -> list[models.Condition]:
    must: list[models.Condition] = []
    if filters.source_prefix:
        must.append(_match("path_prefixes", normalize_prefix(filters.source_prefix)))
    for key, values in (("doc_type", filters.doc_types), ("language", filters.languages), ("tags", filters.tags)):
        if values:
            must.append(models.FieldCondition(key=key, match=models.MatchAny(any=list(values))))
    if filters.modified_after or filters.modified_before:
        dates = models.DatetimeRange(gte=filters.modified_after, lte=filters.modified_before)
        must.append(models.FieldCondition(key="modified_at", range=dates))
    return must


def _filter(access: Access, filters: SearchFilters, *extra: models.Condition) -> models.Filter | None:
    must, should = [*_filters(filters), *extra], _access(access)
    return models.Filter(must=must or None, should=should or None) if must or should else None


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    try:
        yield
    except (ResponseHandlingException, UnexpectedResponse, OSError) as exc:
        raise IndexUnavailableError(f"Qdrant {what} failed: {exc}") from exc


class QdrantServerIndex:
    """An `Index` on a Qdrant server.

    `location=":memory:"` or `path=` give qdrant-client's in-process engine with the same API (for tests).
    """

    def __init__(
        self,
        spec: IndexSpec,
        *,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        path: str | None = None,
        timeout_s: float = 10.0,
        shards: int = 1,
        replication_factor: int = 1,
    ) -> None:
        self.spec = spec
        self._client_args: dict[str, object] = {"url": url, "api_key": api_key, "location": location, "path": path}
        self.timeout_s = timeout_s
        self.shards = shards
        self.replication_factor = replication_factor
        self._client: QdrantClient | None = None

    def start(self) -> None:
        if self._client is not None:
            return
        args = {k: v for k, v in self._client_args.items() if v is not None}
        with _unavailable("connection"):
            client = QdrantClient(**args, timeout=int(self.timeout_s))  # type: ignore[arg-type]
            if client.collection_exists(self.spec.collection):
                self._check(client)
            else:
                self._create(client)
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _metadata(self) -> dict[str, object]:
        spec = self.spec
        return {"docent": {"model": spec.model, "dense_size": spec.dense_size, "multilingual_model": spec.multilingual_model,
                           "multilingual_size": spec.multilingual_size}}

    def _create(self, client: QdrantClient) -> None:
        name = self.spec.collection
        vectors = {DENSE: models.VectorParams(size=self.spec.dense_size, distance=models.Distance.COSINE)}
        if self.spec.multilingual_model:
            vectors[DENSE_MULTI] = models.VectorParams(size=self.spec.multilingual_size, distance=models.Distance.COSINE)
        # A distributed cluster spreads the collection over `shards` and keeps `replication_factor` copies.
        spread = ({"shard_number": self.shards, "replication_factor": self.replication_factor}
                  if self.shards > 1 or self.replication_factor > 1 else {})
        client.create_collection(
            name,
            vectors_config=vectors,
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata=self._metadata(),
            **spread,
        )
        with warnings.catch_warnings():  # the in-process engine warns that it ignores payload indexes
            warnings.simplefilter("ignore", UserWarning)
            for field in KEYWORD_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
            for field in INTEGER_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.INTEGER)
            for field in DATETIME_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.DATETIME)

    def _check(self, client: QdrantClient) -> None:
        config = client.get_collection(self.spec.collection).config
        stored = (config.metadata or {}).get("docent", {})
        vectors = config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        multilingual = (stored.get("multilingual_model") or "", stored.get("multilingual_size") or 0)
        wanted = (self.spec.multilingual_model, self.spec.multilingual_size)
        if size != self.spec.dense_size or stored.get("model") != self.spec.model or multilingual != wanted:
            raise IndexMismatchError(
                f"collection {self.spec.collection!r} holds {size}-d vectors of model {stored.get('model')!r} "
                f"(multilingual model {multilingual[0] or 'none'}), but the settings ask for {self.spec.model!r} "
                f"({self.spec.dense_size}-d, multilingual model {self.spec.multilingual_model or 'none'})"
            )

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            raise RuntimeError("QdrantServerIndex.start() was not called")
        return self._client

    # -- writes ------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, revision: str, chunks: Sequence[IndexedChunk]) -> None:
        name = self.spec.collection
        with _unavailable("upsert"):
            for batch in batched(chunks, UPSERT_BATCH):
                points = [models.PointStruct(id=c.id, vector=self._vectors(c), payload=c.payload()) for c in batch]
                self.client.upsert(name, points=points, wait=True)
            stale = models.Filter(must=[_match("document_id", document_id)], must_not=[_match("revision", revision)])
            self.client.delete(name, points_selector=models.FilterSelector(filter=stale), wait=True)

    def _vectors(self, chunk: IndexedChunk) -> dict[str, object]:
        vectors: dict[str, object] = {
            DENSE: as_list(chunk.dense),
            SPARSE: models.SparseVector(indices=chunk.sparse.indices, values=chunk.sparse.values),
        }
        if chunk.dense_multi is not None and self.spec.multilingual_model:
            vectors[DENSE_MULTI] = as_list(chunk.dense_multi)
        return vectors

    def delete_document(self, document_id: str) -> None:
        selector = models.FilterSelector(filter=models.Filter(must=[_match("document_id", document_id)]))
        with _unavailable("delete"):
            self.client.delete(self.spec.collection, points_selector=selector, wait=True)

    # -- reads -------------------------------------------------------------------------------------

    def _count(self, *conditions: models.FieldCondition) -> int:
        flt = models.Filter(must=list(conditions)) if conditions else None
        with _unavailable("count"):
            return self.client.count(self.spec.collection, count_filter=flt, exact=True).count

    def count(self, document_id: str | None = None) -> int:
        return self._count(_match("document_id", document_id)) if document_id else self._count()

    def document_state(self, document_id: str) -> DocumentState | None:
        with _unavailable("retrieve"):
            records = self.client.retrieve(self.spec.collection, [point_id(document_id, 0)], with_payload=True)
        if not records:
            return None
        payload = records[0].payload or {}
        revision = str(payload["revision"])
        return DocumentState(
            document_id=document_id,
            source=str(payload["source"]),
            revision=revision,
            chunk_count=int(payload["chunk_count"]),
            points=self._count(_match("document_id", document_id)),
            points_at_revision=self._count(_match("document_id", document_id), _match("revision", revision)),
        )

    def documents(self) -> Iterator[tuple[str, str]]:
        offset = None
        first_chunks = models.Filter(must=[_match("chunk", 0)])
        while True:
            with _unavailable("scroll"):
                records, offset = self.client.scroll(
                    self.spec.collection,
                    scroll_filter=first_chunks,
                    limit=512,
                    offset=offset,
                    with_payload=["document_id", "source"],
                )
            for record in records:
                payload = record.payload or {}
                yield str(payload["document_id"]), str(payload["source"])
            if offset is None:
                return

    def search(self, query: IndexQuery) -> list[SearchHit]:
        flt = _filter(query.access, query.filters)
        nearest: list[tuple[object, str]] = []
        if query.dense is not None:
            nearest.append((as_list(query.dense), query.dense_vector))
        if query.sparse is not None and query.sparse.indices:  # a query of stopwords only has no terms
            nearest.append((models.SparseVector(indices=query.sparse.indices, values=query.sparse.values), SPARSE))
        if not nearest:
            return []
        with_vectors = [query.dense_vector] if query.with_dense else False
        with _unavailable("query"):
            if len(nearest) == 1:
                vector, using = nearest[0]
                response = self.client.query_points(
                    self.spec.collection, query=vector, using=using, query_filter=flt, limit=query.limit,
                    with_payload=True, with_vectors=with_vectors,
                )
            else:
                fusion = (models.FusionQuery(fusion=models.Fusion.DBSF) if query.fusion is Fusion.DBSF
                          else models.RrfQuery(rrf=models.Rrf(k=RRF_K)))
                response = self.client.query_points(
                    self.spec.collection,
                    prefetch=[models.Prefetch(query=v, using=u, filter=flt, limit=query.candidates) for v, u in nearest],
                    query=fusion,
                    query_filter=flt,
                    limit=query.limit,
                    with_payload=True,
                    with_vectors=with_vectors,
                )
        return [self._hit(p, query.dense_vector) for p in response.points]

    def fetch(self, ids: Sequence[str], access: Access) -> list[SearchHit]:
        if not ids:
            return []
        flt = _filter(access, SearchFilters(), models.HasIdCondition(has_id=list(ids)))
        with _unavailable("scroll"):
            records, _ = self.client.scroll(self.spec.collection, scroll_filter=flt, limit=len(ids), with_payload=True)
        return [SearchHit.from_payload(str(r.id), 0.0, r.payload or {}) for r in records]

    def optimize(self) -> None:
        """A server builds its indexes in the background; nothing to do."""

    @staticmethod
    def _hit(point: models.ScoredPoint, vector_name: str) -> SearchHit:
        vector = point.vector.get(vector_name) if isinstance(point.vector, dict) else None
        return SearchHit.from_payload(str(point.id), point.score, point.payload or {}, vector)  # type: ignore[arg-type]
