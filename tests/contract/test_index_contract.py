"""One contract, every index backend: Qdrant Edge and qdrant-client's in-process engine.

Vectors here are synthetic on purpose: the contract is about storage semantics (idempotence, replacement,
deletion, spec checks), not about embedding quality, which the integration tests cover with the real model.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.edge_index import EdgeIndex
from retrieval.errors import IndexLockedError, IndexMismatchError
from retrieval.index import IndexQuery
from retrieval.models import Chunk, DocumentMeta, IndexedChunk, IndexSpec
from retrieval.qdrant_index import QdrantServerIndex
from retrieval.sparse import SparseEncoder

DIM = 8
SPEC = IndexSpec(collection="contract", model="test-model", dense_size=DIM)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPARSE = SparseEncoder()


def make_chunks(document_id: str, revision: str, texts: list[str], *, source: str | None = None) -> list[IndexedChunk]:
    meta = DocumentMeta(
        document_id=document_id,
        source=source or f"/docs/{document_id}.txt",
        title=document_id,
        doc_type="txt",
        content_hash=revision,
        revision=revision,
        modified_at=NOW,
        ingested_at=NOW,
        chunk_count=len(texts),
    )
    out = []
    for number, text in enumerate(texts):
        rng = np.random.default_rng(abs(hash((document_id, text))) % 2**32)
        vec = rng.normal(size=DIM).astype(np.float32)
        out.append(
            IndexedChunk(
                document=meta,
                chunk=Chunk(number=number, text=text),
                dense=(vec / np.linalg.norm(vec)).tolist(),
                sparse=SPARSE.encode_document(text),
            )
        )
    return out


@pytest.fixture(params=["edge", "memory"])
def backend(request, tmp_path):
    return request.param, tmp_path


def open_index(backend, spec: IndexSpec = SPEC):
    kind, tmp_path = backend
    if kind == "edge":
        index = EdgeIndex(tmp_path, spec)
    elif kind == "memory":  # QdrantClient(":memory:"): the server's API, in process
        index = QdrantServerIndex(spec, location=":memory:")
    else:  # the same engine on a folder, for what must survive a reopen
        index = QdrantServerIndex(spec, path=str(tmp_path / "qdrant-local"))
    index.start()
    return index


@pytest.fixture
def index(backend):
    index = open_index(backend)
    yield index
    index.close()


def test_replace_is_idempotent(index):
    chunks = make_chunks("doc-a", "r1", [f"alpha text number {i}" for i in range(5)])
    index.replace_document("doc-a", "r1", chunks)
    index.replace_document("doc-a", "r1", chunks)
    assert index.count("doc-a") == 5
    assert index.count() == 5


def test_shrinking_document_leaves_exactly_the_new_chunks(index):
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", [f"old chunk {i}" for i in range(10)]))
    index.replace_document("doc-a", "r2", make_chunks("doc-a", "r2", [f"new chunk {i}" for i in range(6)]))
    assert index.count("doc-a") == 6
    state = index.document_state("doc-a")
    assert state is not None and state.revision == "r2" and state.complete
    hits = index.search(IndexQuery(20, np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), SPARSE.encode_query("chunk"), candidates=50))
    assert sorted(h.text for h in hits) == sorted(f"new chunk {i}" for i in range(6))


def test_partial_write_is_seen_as_incomplete(index):
    # What a run killed after writing 3 of 6 new chunks leaves: the new revision, but not all of it.
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", [f"old {i}" for i in range(10)]))
    new = make_chunks("doc-a", "r2", [f"new {i}" for i in range(6)])
    index.replace_document("doc-a", "r2", new[:3])
    state = index.document_state("doc-a")
    assert state is not None and state.revision == "r2" and state.chunk_count == 6 and not state.complete
    index.replace_document("doc-a", "r2", new)
    state = index.document_state("doc-a")
    assert state is not None and state.complete and state.points == 6


def test_delete_document_removes_every_point_and_ignores_unknown(index):
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", ["one", "two"]))
    index.replace_document("doc-b", "r1", make_chunks("doc-b", "r1", ["three"]))
    index.delete_document("doc-a")
    index.delete_document("never-indexed")
    assert index.count("doc-a") == 0
    assert index.document_state("doc-a") is None
    assert index.count() == 1


def test_documents_lists_each_document_once(index):
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", ["a1", "a2", "a3"], source="/x/a.txt"))
    index.replace_document("doc-b", "r1", make_chunks("doc-b", "r1", ["b1"], source="/x/b.txt"))
    assert sorted(index.documents()) == [("doc-a", "/x/a.txt"), ("doc-b", "/x/b.txt")]


def test_hybrid_search_finds_exact_terms(index):
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", ["the vpn gateway listens on port 8443"]))
    index.replace_document("doc-b", "r1", make_chunks("doc-b", "r1", ["报销单必须在出差结束后十五个工作日内提交"]))
    index.replace_document("doc-c", "r1", make_chunks("doc-c", "r1", ["lunch menu for friday"]))
    query_vec = np.zeros(DIM, dtype=np.float32)
    query_vec[0] = 1.0
    hits = index.search(IndexQuery(3, query_vec, SPARSE.encode_query("出差报销什么时候提交"), candidates=10))
    assert hits[0].document_id == "doc-b"
    hits = index.search(IndexQuery(3, query_vec, SPARSE.encode_query("VPN port"), candidates=10))
    assert hits[0].document_id == "doc-a"
    assert hits[0].text == "the vpn gateway listens on port 8443"


def test_search_with_stopword_only_query_uses_dense_alone(index):
    chunks = make_chunks("doc-a", "r1", ["some text"])
    index.replace_document("doc-a", "r1", chunks)
    hits = index.search(IndexQuery(1, np.asarray(chunks[0].dense, dtype=np.float32), SPARSE.encode_query("the of and"), candidates=5))
    assert [h.document_id for h in hits] == ["doc-a"]


@pytest.mark.parametrize("kind", ["edge", "local-path"])
def test_reopening_with_another_model_is_refused(kind, tmp_path):
    backend = (kind, tmp_path)
    index = open_index(backend)
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", ["persisted"]))
    index.close()
    with pytest.raises(IndexMismatchError, match="other-model"):
        open_index(backend, IndexSpec("contract", "other-model", DIM))
    reopened = open_index(backend)
    assert reopened.count() == 1
    reopened.close()


def test_edge_index_is_single_process(tmp_path):
    first = EdgeIndex(tmp_path, SPEC)
    first.start()
    second = EdgeIndex(tmp_path, SPEC)
    with pytest.raises(IndexLockedError, match="in use by another process"):
        second.start()
    first.close()
    second.start()
    second.close()


def test_optimize_keeps_every_point_and_the_ranking(index):
    for d in range(30):
        index.replace_document(f"doc-{d}", "r1", make_chunks(f"doc-{d}", "r1", [f"text {d} part {i}" for i in range(5)]))
    query = IndexQuery(10, np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), SPARSE.encode_query("text 7 part"))
    before = index.search(query)
    index.optimize()
    assert index.count() == 150
    after = index.search(query)
    assert [h.id for h in after[:3]] == [h.id for h in before[:3]]  # further down, equal scores may swap
    assert [h.score for h in after] == pytest.approx([h.score for h in before], abs=1e-4)
    index.replace_document("doc-0", "r2", make_chunks("doc-0", "r2", ["rewritten"]))  # writes still work after it
    assert index.count("doc-0") == 1
