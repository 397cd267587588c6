"""The server index: a Qdrant server or cluster through qdrant-client (also its in-process `:memory:` mode).

The collection records the embedding model in its metadata, so a collection built with another model is
refused at start instead of returning nonsense later. Every client error becomes `IndexUnavailableError`.
The version that serves is the one the alias `<collection>-current` names, else the collection itself
(`retrieval.versions`).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from qdrant_client.local.qdrant_local import QdrantLocal

from retrieval.access import Access, AllAccess
from retrieval.errors import IndexMismatchError, IndexUnavailableError
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
from retrieval.versions import ALIAS_SUFFIX, FOLLOW_EVERY_S

UPSERT_BATCH = 256
log = logging.getLogger("docent.index")


def _match(key: str, value: str | int) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _access(access: Access) -> list[models.Condition]:
    """The `should` clause of the access rule (retrieval/access.py); empty for administrative access."""
    if isinstance(access, AllAccess):
        return []
    conditions: list[models.Condition] = [_match("visibility", "public")]
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
        version: str | None = None,
        follow: bool = False,
        check_spec: bool = True,
        client: QdrantClient | None = None,
    ) -> None:
        self.spec = spec
        self.pinned = version
        self.follow = follow and version is None
        self.check_spec = check_spec
        self.name = version or spec.collection  # the collection that serves (resolved at start)
        self._looked_at = 0.0
        self._refused: str | None = None
        self._given = client  # a client shared with others (one in-process engine): used, never closed here
        self._url, self._api_key, self._location, self._path = url, api_key, location, path
        self.timeout_s = timeout_s
        self.shards = shards
        self.replication_factor = replication_factor
        self._client: QdrantClient | None = None
        self._exhaustive = False

    def start(self) -> None:
        if self._client is not None:
            return
        with _unavailable("connection"):
            client = self._given or QdrantClient(
                location=self._location,
                url=self._url,
                api_key=self._api_key,
                path=self._path,
                timeout=int(self.timeout_s),
            )
            self.name = self.pinned or current_version(client, self.spec.collection)
            if client.collection_exists(self.name):
                if self.check_spec:
                    self._check(client, self.name)
            else:
                self._create(client)
        self._client = client
        # qdrant-client's in-process engine searches exhaustively and warns at every search that gets HNSW
        # parameters; `_client` is the engine behind the public client (no public way to ask).
        self._exhaustive = isinstance(getattr(client, "_client", None), QdrantLocal)
        self._looked_at = time.monotonic()

    def close(self) -> None:
        if self._client is not None:
            if self._client is not self._given:
                self._client.close()
            self._client = None

    def _metadata(self) -> dict[str, object]:
        spec = self.spec
        return {
            "docent": {
                "model": spec.model,
                "dense_size": spec.dense_size,
                "multilingual_model": spec.multilingual_model,
                "multilingual_size": spec.multilingual_size,
            }
        }

    def _create(self, client: QdrantClient) -> None:
        name = self.name
        vectors = {DENSE: models.VectorParams(size=self.spec.dense_size, distance=models.Distance.COSINE)}
        if self.spec.multilingual_model:
            vectors[DENSE_MULTI] = models.VectorParams(
                size=self.spec.multilingual_size, distance=models.Distance.COSINE
            )
        # A distributed cluster spreads the collection over `shards` and keeps `replication_factor` copies.
        distributed = self.shards > 1 or self.replication_factor > 1
        client.create_collection(
            name,
            vectors_config=vectors,
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            # an int8 copy in memory for the HNSW walk, rescored with the floats (retrieval/edge_index.py, `_config`)
            quantization_config=models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, quantile=0.99, always_ram=True)
            ),
            metadata=self._metadata(),
            shard_number=self.shards if distributed else None,
            replication_factor=self.replication_factor if distributed else None,
        )
        with warnings.catch_warnings():  # the in-process engine warns that it ignores payload indexes
            warnings.simplefilter("ignore", UserWarning)
            for field in KEYWORD_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
            for field in INTEGER_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.INTEGER)
            for field in DATETIME_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.DATETIME)

    def stored_spec(self, client: QdrantClient, name: str) -> dict[str, object]:
        """The spec a collection was built with, in the embedded store's shape."""
        config = client.get_collection(name).config
        stored = (config.metadata or {}).get("docent", {})
        vectors = config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        return {
            "model": stored.get("model"),
            "dense_size": size,
            "multilingual_model": stored.get("multilingual_model") or "",
            "multilingual_size": stored.get("multilingual_size") or 0,
        }

    def _matches(self, client: QdrantClient, name: str) -> bool:
        return self.stored_spec(client, name) == {
            "model": self.spec.model,
            "dense_size": self.spec.dense_size,
            "multilingual_model": self.spec.multilingual_model,
            "multilingual_size": self.spec.multilingual_size,
        }

    def _check(self, client: QdrantClient, name: str) -> None:
        config = client.get_collection(name).config
        stored = (config.metadata or {}).get("docent", {})
        vectors = config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        multilingual = (stored.get("multilingual_model") or "", stored.get("multilingual_size") or 0)
        wanted = (self.spec.multilingual_model, self.spec.multilingual_size)
        if size != self.spec.dense_size or stored.get("model") != self.spec.model or multilingual != wanted:
            raise IndexMismatchError(
                f"collection {name!r} holds {size}-d vectors of model {stored.get('model')!r} "
                f"(multilingual model {multilingual[0] or 'none'}), but the settings ask for {self.spec.model!r} "
                f"({self.spec.dense_size}-d, multilingual model {self.spec.multilingual_model or 'none'}); run "
                f"`docent reindex` with these settings to rebuild it into a new version (the current one keeps "
                f"serving until the switch)"
            )

    @property
    def client(self) -> QdrantClient:
        if self._client is None:
            raise RuntimeError("QdrantServerIndex.start() was not called")
        if self.follow and time.monotonic() - self._looked_at >= FOLLOW_EVERY_S:
            self._follow_alias(self._client)
        return self._client

    def _follow_alias(self, client: QdrantClient) -> None:
        """Serve the collection the alias names now, if this process's settings built it."""
        self._looked_at = time.monotonic()
        try:
            target = current_version(client, self.spec.collection)
            if target in (self.name, self._refused):
                return
            if not self._matches(client, target):
                self._refused = target
                log.warning(
                    "the index now points at version %s, built with other settings: this process keeps "
                    "serving %s until it is restarted with that version's settings",
                    target,
                    self.name,
                )
                return
        except Exception as exc:  # a failed look is retried; the request itself goes on
            log.warning("could not read the index alias: %s", exc)
            return
        log.info("index switched from version %s to %s", self.name, target)
        self.name = target

    # -- writes ------------------------------------------------------------------------------------

    def replace_document(self, document_id: str, revision: str, chunks: Sequence[IndexedChunk]) -> None:
        name = self.name
        with _unavailable("upsert"):
            for batch in batched(chunks, UPSERT_BATCH):
                points = [models.PointStruct(id=c.id, vector=self._vectors(c), payload=c.payload()) for c in batch]
                self.client.upsert(name, points=points, wait=True)
            stale = models.Filter(must=[_match("document_id", document_id)], must_not=[_match("revision", revision)])
            self.client.delete(name, points_selector=models.FilterSelector(filter=stale), wait=True)

    def _vectors(self, chunk: IndexedChunk) -> dict[str, models.Vector]:
        vectors: dict[str, models.Vector] = {
            DENSE: as_list(chunk.dense),
            SPARSE: models.SparseVector(indices=chunk.sparse.indices, values=chunk.sparse.values),
        }
        if chunk.dense_multi is not None and self.spec.multilingual_model:
            vectors[DENSE_MULTI] = as_list(chunk.dense_multi)
        return vectors

    def delete_document(self, document_id: str) -> None:
        selector = models.FilterSelector(filter=models.Filter(must=[_match("document_id", document_id)]))
        with _unavailable("delete"):
            self.client.delete(self.name, points_selector=selector, wait=True)

    def update_access(self, document_id: str, acl: Sequence[str], public: bool) -> None:
        selector = models.FilterSelector(filter=models.Filter(must=[_match("document_id", document_id)]))
        with _unavailable("set_payload"):
            self.client.set_payload(self.name, access_payload(acl, public), points=selector, wait=True)

    # -- reads -------------------------------------------------------------------------------------

    def _count(self, *conditions: models.FieldCondition) -> int:
        flt = models.Filter(must=list(conditions)) if conditions else None
        with _unavailable("count"):
            return self.client.count(self.name, count_filter=flt, exact=True).count

    def count(self, document_id: str | None = None) -> int:
        return self._count(_match("document_id", document_id)) if document_id else self._count()

    def document_state(self, document_id: str) -> DocumentState | None:
        with _unavailable("retrieve"):
            records = self.client.retrieve(self.name, [point_id(document_id, 0)], with_payload=True)
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
        for payload in self._first_chunks(["document_id", "source"]):
            yield str(payload["document_id"]), str(payload["source"])

    def grants(self) -> Iterator[DocumentGrant]:
        for payload in self._first_chunks(["document_id", "source", "acl", "visibility", "tags", "marker"]):
            yield DocumentGrant.from_payload(payload)

    def _first_chunks(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        first_chunks = models.Filter(must=[_match("chunk", 0)])
        while True:
            with _unavailable("scroll"):
                records, offset = self.client.scroll(
                    self.name, scroll_filter=first_chunks, limit=512, offset=offset, with_payload=fields
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
        responses: list[models.QueryResponse] = []
        if planned:
            with _unavailable("query"):
                responses = self.client.query_batch_points(self.name, requests=planned)
        results = iter(responses)
        return [
            [] if r is None else [self._hit(p, q.dense_vector) for p in next(results).points]
            for q, r in zip(queries, requests, strict=True)
        ]

    def _request(
        self, query: IndexQuery, counts: dict[tuple[Access, SearchFilters], int]
    ) -> models.QueryRequest | None:
        """`query` as Qdrant's request; None when it has nothing to search with."""
        flt = _filter(query.access, query.filters)
        nearest: list[tuple[list[float] | models.SparseVector, str]] = []
        if query.dense is not None:
            nearest.append((as_list(query.dense), query.dense_vector))
        if query.sparse is not None and query.sparse.indices:  # a query of stopwords only has no terms
            nearest.append((models.SparseVector(indices=query.sparse.indices, values=query.sparse.values), SPARSE))
        if not nearest:
            return None
        with_vectors = [query.dense_vector] if query.with_dense else False
        params = self._params(flt, query, counts) if query.dense is not None else None
        payload: bool | list[str] = True if query.fields is None else list(query.fields)
        if len(nearest) == 1:
            vector, using = nearest[0]
            return models.QueryRequest(
                query=vector,
                using=using,
                filter=flt,
                params=params,
                limit=query.limit,
                with_payload=payload,
                with_vector=with_vectors,
            )
        fusion = (
            models.FusionQuery(fusion=models.Fusion.DBSF)
            if query.fusion is Fusion.DBSF
            else models.RrfQuery(rrf=models.Rrf(k=RRF_K))
        )
        return models.QueryRequest(
            prefetch=[
                models.Prefetch(query=v, using=u, filter=flt, params=params, limit=query.candidates) for v, u in nearest
            ],
            query=fusion,
            filter=flt,
            limit=query.limit,
            with_payload=payload,
            with_vector=with_vectors,
        )

    def _params(
        self, flt: models.Filter | None, query: IndexQuery, counts: dict[tuple[Access, SearchFilters], int]
    ) -> models.SearchParams | None:
        """As the embedded index searches (retrieval/index.py, `HNSW_EF`): exact when the filter leaves few
        points, else a wider walk with twice the candidates rescored."""
        if self._exhaustive:
            return None  # the in-process engine always scans, and warns at every search given HNSW parameters
        if flt is not None:
            key = (query.access, query.filters)
            if key not in counts:
                with _unavailable("count"):
                    counts[key] = self.client.count(self.name, count_filter=flt, exact=False).count
            if counts[key] <= EXACT_SCAN_POINTS:
                return models.SearchParams(exact=True)
        return models.SearchParams(
            hnsw_ef=HNSW_EF, quantization=models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
        )

    def fetch(self, ids: Sequence[str], access: Access) -> list[SearchHit]:
        if not ids:
            return []
        flt = _filter(access, SearchFilters(), models.HasIdCondition(has_id=list(ids)))
        with _unavailable("scroll"):
            records, _ = self.client.scroll(self.name, scroll_filter=flt, limit=len(ids), with_payload=True)
        return [SearchHit.from_payload(str(r.id), 0.0, r.payload or {}) for r in records]

    def optimize(self) -> None:
        """A server builds its indexes in the background; nothing to do."""

    @staticmethod
    def _hit(point: models.ScoredPoint, vector_name: str) -> SearchHit:
        vector = point.vector.get(vector_name) if isinstance(point.vector, dict) else None
        dense = cast("list[float] | None", vector)  # the named vector is a dense one: a list of floats
        return SearchHit.from_payload(str(point.id), point.score, point.payload or {}, dense)


def current_version(client: QdrantClient, collection: str) -> str:
    """The collection the alias `<collection>-current` names, else `collection` (version 1)."""
    alias = collection + ALIAS_SUFFIX
    for item in client.get_aliases().aliases:
        if item.alias_name == alias:
            return item.collection_name
    return collection
