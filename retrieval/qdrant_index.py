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

from retrieval.errors import IndexMismatchError, IndexUnavailableError
from retrieval.index import DENSE, INTEGER_FIELDS, KEYWORD_FIELDS, RRF_K, SPARSE, as_list, batched
from retrieval.models import DocumentState, IndexedChunk, IndexSpec, SearchHit, SparseVector, point_id

UPSERT_BATCH = 256


def _match(key: str, value: str | int) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


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
    ) -> None:
        self.spec = spec
        self._client_args: dict[str, object] = {"url": url, "api_key": api_key, "location": location, "path": path}
        self.timeout_s = timeout_s
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
        return {"docent": {"model": self.spec.model, "dense_size": self.spec.dense_size}}

    def _create(self, client: QdrantClient) -> None:
        name = self.spec.collection
        client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=self.spec.dense_size, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata=self._metadata(),
        )
        with warnings.catch_warnings():  # the in-process engine warns that it ignores payload indexes
            warnings.simplefilter("ignore", UserWarning)
            for field in KEYWORD_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
            for field in INTEGER_FIELDS:
                client.create_payload_index(name, field, models.PayloadSchemaType.INTEGER)

    def _check(self, client: QdrantClient) -> None:
        config = client.get_collection(self.spec.collection).config
        stored = (config.metadata or {}).get("docent", {})
        vectors = config.params.vectors
        size = vectors[DENSE].size if isinstance(vectors, dict) and DENSE in vectors else None
        if size != self.spec.dense_size or stored.get("model") != self.spec.model:
            raise IndexMismatchError(
                f"collection {self.spec.collection!r} holds {size}-d vectors of model {stored.get('model')!r}, "
                f"but the settings ask for {self.spec.model!r} ({self.spec.dense_size}-d)"
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
                points = [
                    models.PointStruct(
                        id=c.id,
                        vector={
                            DENSE: as_list(c.dense),
                            SPARSE: models.SparseVector(indices=c.sparse.indices, values=c.sparse.values),
                        },
                        payload=c.payload(),
                    )
                    for c in batch
                ]
                self.client.upsert(name, points=points, wait=True)
            stale = models.Filter(must=[_match("document_id", document_id)], must_not=[_match("revision", revision)])
            self.client.delete(name, points_selector=models.FilterSelector(filter=stale), wait=True)

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

    def search(self, dense: np.ndarray, sparse: SparseVector, *, limit: int, candidates: int) -> list[SearchHit]:
        prefetch = [models.Prefetch(query=as_list(dense), using=DENSE, limit=candidates)]
        if sparse.indices:
            query = models.SparseVector(indices=sparse.indices, values=sparse.values)
            prefetch.append(models.Prefetch(query=query, using=SPARSE, limit=candidates))
        with _unavailable("query"):
            response = self.client.query_points(
                self.spec.collection,
                prefetch=prefetch,
                query=models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
                limit=limit,
                with_payload=True,
            )
        return [SearchHit.from_payload(str(p.id), p.score, p.payload or {}) for p in response.points]
