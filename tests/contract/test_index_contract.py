"""One contract, every index backend: Qdrant Edge and qdrant-client's in-process engine.

Vectors here are synthetic on purpose: the contract is about storage semantics (idempotence, replacement,
deletion, spec checks), not about embedding quality, which the integration tests cover with the real model.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.edge_index import EdgeIndex
from retrieval.errors import ConfigError, IndexLockedError, IndexMismatchError
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
    hits = index.search(
        IndexQuery(20, np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), SPARSE.encode_query("chunk"), candidates=50)
    )
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


def test_a_search_can_return_only_some_payload_fields(index):
    """The retriever ranks with a few fields and reads the texts of the survivors only (retrieval/index.py)."""
    chunks = make_chunks("doc-a", "r1", ["the vpn gateway listens on port 8443", "second chunk"])
    index.replace_document("doc-a", "r1", chunks)
    vector = np.asarray(chunks[0].dense, dtype=np.float32)
    fields = ("document_id", "chunk", "language")
    for sparse in (None, SPARSE.encode_query("vpn port")):
        light = index.search(IndexQuery(2, vector, sparse, candidates=5, fields=fields))
        assert [(h.document_id, h.chunk) for h in light][:1] == [("doc-a", 0)]
        assert all(h.text == "" and h.source == "" for h in light), light
    whole = index.search(IndexQuery(2, vector, None, candidates=5))
    assert whole[0].text == "the vpn gateway listens on port 8443" and whole[0].source == "/docs/doc-a.txt"


def test_a_batch_of_searches_answers_each_as_search_does_in_order(index):
    """The retriever sends a question's lists as one batch (`search_many`): one call to the store."""
    index.replace_document("doc-a", "r1", make_chunks("doc-a", "r1", ["the vpn gateway listens on port 8443"]))
    index.replace_document("doc-b", "r1", make_chunks("doc-b", "r1", ["lunch menu for friday", "soup of the day"]))
    vector = np.asarray(make_chunks("doc-b", "r1", ["x", "soup of the day"])[1].dense, dtype=np.float32)
    queries = [
        IndexQuery(3, vector, None, candidates=5),
        IndexQuery(3, None, SPARSE.encode_query("the of and")),  # nothing to search with: no hits, no error
        IndexQuery(3, None, SPARSE.encode_query("vpn port"), fields=("document_id", "chunk", "language")),
        IndexQuery(3, vector, SPARSE.encode_query("lunch menu"), candidates=5),
    ]
    batch = index.search_many(queries)
    alone = [index.search(q) for q in queries]
    assert [[(h.id, h.text) for h in hits] for hits in batch] == [[(h.id, h.text) for h in hits] for hits in alone]
    # qdrant-client's in-memory engine rounds a cosine differently in its batch path (1.0000000481 vs 0.9999999575)
    assert [[h.score for h in hits] for hits in batch] == [pytest.approx([h.score for h in hits]) for hits in alone]
    assert [h.chunk for h in batch[0]][:1] == [1] and batch[1] == []
    assert [h.document_id for h in batch[2]] == ["doc-a"] and batch[2][0].text == ""
    assert index.search_many([]) == []


def test_search_with_stopword_only_query_uses_dense_alone(index):
    chunks = make_chunks("doc-a", "r1", ["some text"])
    index.replace_document("doc-a", "r1", chunks)
    hits = index.search(
        IndexQuery(1, np.asarray(chunks[0].dense, dtype=np.float32), SPARSE.encode_query("the of and"), candidates=5)
    )
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


def test_grants_give_each_documents_source_and_access(index):
    chunks = make_chunks("doc-a", "r1", ["one", "two"], source="/docs/a.txt")
    import dataclasses

    meta = dataclasses.replace(chunks[0].document, acl=("group:hr",), public=False, tags=("policy",))
    index.replace_document("doc-a", "r1", [dataclasses.replace(c, document=meta) for c in chunks])
    index.replace_document("doc-b", "r1", make_chunks("doc-b", "r1", ["three"]))
    grants = {g.document_id: g for g in index.grants()}
    assert set(grants) == {"doc-a", "doc-b"}
    assert (grants["doc-a"].source, grants["doc-a"].acl, grants["doc-a"].tags) == (
        "/docs/a.txt",
        ("group:hr",),
        ("policy",),
    )
    assert not grants["doc-a"].public


def test_a_serving_index_follows_the_pointer_to_a_version_with_its_settings(backend, monkeypatch):
    """Version 2 is built beside version 1; after the switch, an index that follows the pointer serves version 2
    within a second, and it goes back as fast; a version built with other settings is not followed."""
    from qdrant_client import QdrantClient

    import retrieval.edge_index as edge_module
    import retrieval.qdrant_index as server_module
    from ingest.reindex import EdgeVersions, ServerVersions

    monkeypatch.setattr(edge_module, "FOLLOW_EVERY_S", 0.0)
    monkeypatch.setattr(server_module, "FOLLOW_EVERY_S", 0.0)
    kind, tmp_path = backend
    client = QdrantClient(":memory:") if kind == "memory" else None

    def opened(spec=SPEC, **kwargs):
        index = (
            EdgeIndex(tmp_path, spec, **kwargs) if kind == "edge" else QdrantServerIndex(spec, client=client, **kwargs)
        )
        index.start()
        return index

    v1 = opened()
    v1.replace_document("old", "r1", make_chunks("old", "r1", ["version one text"]))
    v1.close()
    v2 = opened(version="contract-v2")
    v2.replace_document("new", "r1", make_chunks("new", "r1", ["version two text"]))
    v2.close()
    other = opened(IndexSpec("contract", "other-model", DIM), version="contract-v3")
    other.close()
    versions = EdgeVersions(tmp_path, "contract") if kind == "edge" else ServerVersions(client, "contract")
    assert versions.names() == ["contract", "contract-v2", "contract-v3"] and versions.current() == "contract"

    serving = opened(follow=True)
    assert [d for d, _ in serving.documents()] == ["old"]
    versions.switch("contract-v2")
    assert [d for d, _ in serving.documents()] == ["new"]  # followed at the next call
    versions.switch("contract")
    assert [d for d, _ in serving.documents()] == ["old"]  # and back (the edge shard was still open)
    versions.switch("contract-v3")
    assert [d for d, _ in serving.documents()] == ["old"]  # other settings: kept serving what it had
    serving.close()
    with pytest.raises(IndexMismatchError, match="docent reindex"):
        opened()  # started fresh, it serves the pointer's version, which these settings cannot read
    versions.switch("contract")
    with pytest.raises(ConfigError, match="serving"):
        versions.drop("contract")
    versions.drop("contract-v3")
    assert versions.names() == ["contract", "contract-v2"]


def test_optimize_keeps_every_point_and_the_ranking(index):
    for d in range(30):
        index.replace_document(
            f"doc-{d}", "r1", make_chunks(f"doc-{d}", "r1", [f"text {d} part {i}" for i in range(5)])
        )
    query = IndexQuery(10, np.ones(DIM, dtype=np.float32) / np.sqrt(DIM), SPARSE.encode_query("text 7 part"))
    before = index.search(query)
    index.optimize()
    assert index.count() == 150
    after = index.search(query)
    assert [h.id for h in after[:3]] == [h.id for h in before[:3]]  # further down, equal scores may swap
    assert [h.score for h in after] == pytest.approx([h.score for h in before], abs=1e-4)
    index.replace_document("doc-0", "r2", make_chunks("doc-0", "r2", ["rewritten"]))  # writes still work after it
    assert index.count("doc-0") == 1


def test_update_access_changes_who_sees_a_document_without_rewriting_it(index):
    from retrieval.access import Principal

    chunks = make_chunks("doc-a", "r1", ["the vpn gateway listens on port 8443", "second chunk"])
    index.replace_document("doc-a", "r1", chunks)
    query = np.asarray(chunks[0].dense, dtype=np.float32)
    ann, hr = Principal("ann@corp.com"), Principal("bob@corp.com", ("hr",))

    def visible(principal: Principal) -> list[str]:
        return [h.document_id for h in index.search(IndexQuery(5, query, candidates=10, access=principal))]

    assert visible(ann) == [] and visible(hr) == []
    index.update_access("doc-a", ["group:hr"], False)
    assert visible(ann) == [] and set(visible(hr)) == {"doc-a"}
    index.update_access("doc-a", ["user:ann@corp.com"], False)
    assert set(visible(ann)) == {"doc-a"} and visible(hr) == []
    index.update_access("doc-a", [], True)
    assert set(visible(ann)) == {"doc-a"} == set(visible(Principal("someone")))
    state = index.document_state("doc-a")
    assert state.revision == "r1" and state.complete  # the text and vectors were not touched
    assert {g.document_id: g.acl for g in index.grants()} == {"doc-a": ()}
