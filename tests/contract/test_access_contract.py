"""The access rule and the metadata filters, enforced by Qdrant inside every prefetch, on both adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from retrieval.access import ALL_ACCESS, PUBLIC_ONLY, Principal
from retrieval.filters import SearchFilters
from retrieval.index import DENSE_MULTI, Fusion, IndexQuery
from retrieval.models import Chunk, DocumentMeta, IndexedChunk, IndexSpec, point_id
from tests.contract.test_index_contract import DIM, SPARSE, backend, open_index  # noqa: F401 - fixture

SPEC = IndexSpec(
    collection="access", model="test-model", dense_size=DIM, multilingual_model="test-multilingual", multilingual_size=4
)
ALICE = Principal("alice", ("group:eng",))
BOB = Principal("bob", ("group:sales",))


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def document(
    doc_id: str,
    texts: list[str],
    *,
    acl=(),
    public=False,
    source=None,
    doc_type="txt",
    tags=(),
    modified=datetime(2026, 1, 1, tzinfo=UTC),
    language="en",
    vectors=None,
    multilingual=None,
) -> list[IndexedChunk]:
    meta = DocumentMeta(
        document_id=doc_id,
        source=source or f"/docs/{doc_id}.txt",
        title=doc_id,
        doc_type=doc_type,
        content_hash="h",
        revision="r1",
        modified_at=modified,
        ingested_at=modified,
        acl=tuple(acl),
        public=public,
        chunk_count=len(texts),
        tags=tuple(tags),
    )
    return [
        IndexedChunk(
            meta,
            Chunk(n, text, language=language),
            (vectors[n] if vectors is not None else unit(hash((doc_id, n)) % 2**32)).tolist(),
            SPARSE.encode_document(text),
            None if multilingual is None else multilingual.tolist(),
        )
        for n, text in enumerate(texts)
    ]


@pytest.fixture
def index(backend):
    index = open_index(backend, SPEC)
    yield index
    index.close()


def add(index, chunks: list[IndexedChunk]) -> None:
    index.replace_document(chunks[0].document.document_id, "r1", chunks)


def search(index, query: str, access, *, mode="hybrid", limit=10, filters=None, vector=None):
    dense = vector if vector is not None else unit(7)
    q = IndexQuery(
        limit=limit,
        dense=None if mode == "sparse" else dense,
        sparse=None if mode == "dense" else SPARSE.encode_query(query),
        candidates=100,
        fusion=Fusion.DBSF,
        access=access,
        filters=filters if filters is not None else SearchFilters(),
    )
    return index.search(q)


@pytest.fixture
def two_teams(index):
    add(index, document("eng-handbook", ["deploy the service with the release train"], acl=["group:eng"]))
    add(index, document("sales-playbook", ["deploy the discount plan for the release train"], acl=["group:sales"]))
    add(index, document("alice-notes", ["release train notes shared with alice"], acl=["user:alice"]))
    add(index, document("holidays", ["the release train stops for the holidays"], public=True))
    add(index, document("orphan", ["release train orphan without any acl"]))
    return index


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_disjoint_principals_never_see_each_others_documents(two_teams, mode):
    alice = {h.document_id for h in search(two_teams, "release train", ALICE, mode=mode)}
    bob = {h.document_id for h in search(two_teams, "release train", BOB, mode=mode)}
    assert alice == {"eng-handbook", "alice-notes", "holidays"}
    assert bob == {"sales-playbook", "holidays"}


def test_fetch_by_id_cannot_cross_over(two_teams):
    sales = [point_id("sales-playbook", 0)]
    assert two_teams.fetch(sales, ALICE) == []
    assert [h.document_id for h in two_teams.fetch(sales, BOB)] == ["sales-playbook"]
    assert [h.document_id for h in two_teams.fetch(sales, ALL_ACCESS)] == ["sales-playbook"]


def test_public_and_missing_acl_rules(two_teams):
    nobody = {h.document_id for h in search(two_teams, "release train", PUBLIC_ONLY)}
    assert nobody == {"holidays"}  # no groups: public documents only
    no_groups = {h.document_id for h in search(two_teams, "release train", Principal("carol"))}
    assert no_groups == {"holidays"}
    everything = {h.document_id for h in search(two_teams, "release train", ALL_ACCESS)}
    assert "orphan" in everything  # only administrative access sees a document without an ACL
    assert all(
        "orphan" not in {h.document_id for h in search(two_teams, "orphan", p)} for p in (ALICE, BOB, PUBLIC_ONLY)
    )


def test_filters_only_narrow_access(two_teams):
    # A filter naming the other team's document finds nothing rather than widening access.
    prefix = SearchFilters(source_prefix="/docs/sales-playbook.txt")
    assert search(two_teams, "deploy", ALICE, filters=prefix) == []
    assert [h.document_id for h in search(two_teams, "deploy", BOB, filters=prefix)] == ["sales-playbook"]


def test_forbidden_global_top_still_gives_k_results(index):
    """300 forbidden documents match the query exactly; the 5 allowed ones match only loosely.

    Every prefetch is only 100 deep, so a filter applied after retrieval would return nothing."""
    target = unit(42)
    for i in range(300):
        add(
            index,
            document(
                f"secret-{i}", ["quarterly revenue forecast for the board"], acl=["group:board"], vectors=[target]
            ),
        )
    for i in range(5):
        near = target + 0.9 * unit(100 + i)
        add(
            index,
            document(
                f"open-{i}",
                [f"team lunch forecast number {i}"],
                acl=["group:eng"],
                vectors=[near / np.linalg.norm(near)],
            ),
        )
    for mode in ("dense", "sparse", "hybrid"):
        hits = search(index, "quarterly revenue forecast", ALICE, mode=mode, limit=5, vector=target)
        assert sorted(h.document_id for h in hits) == [f"open-{i}" for i in range(5)], mode
    assert len(search(index, "quarterly revenue forecast", ALL_ACCESS, limit=5, vector=target)) == 5


def test_metadata_filters(index):
    add(
        index,
        document(
            "hr-2024",
            ["leave policy for staff"],
            public=True,
            source="/corp/hr/leave.pdf",
            doc_type="pdf",
            tags=["policy"],
            modified=datetime(2024, 3, 1, tzinfo=UTC),
        ),
    )
    add(
        index,
        document(
            "hr-2026",
            ["leave policy update"],
            public=True,
            source="/corp/hr/2026/update.docx",
            doc_type="docx",
            tags=["policy", "2026"],
            modified=datetime(2026, 2, 1, tzinfo=UTC),
        ),
    )
    add(
        index,
        document(
            "it-zh",
            ["请假 政策 leave policy 中文"],
            public=True,
            source="/corp/hr-archive/zh.md",
            doc_type="md",
            language="zh",
            modified=datetime(2025, 6, 1, tzinfo=UTC),
        ),
    )

    def ids(**filters):
        return sorted(
            h.document_id for h in search(index, "leave policy", PUBLIC_ONLY, filters=SearchFilters(**filters))
        )

    assert ids() == ["hr-2024", "hr-2026", "it-zh"]
    assert ids(source_prefix="/corp/hr") == ["hr-2024", "hr-2026"]  # a folder, not a string prefix of "hr-archive"
    assert ids(source_prefix="/corp/hr/") == ["hr-2024", "hr-2026"]
    assert ids(source_prefix="/corp/hr/2026") == ["hr-2026"]
    assert ids(doc_types=("pdf", "md")) == ["hr-2024", "it-zh"]
    assert ids(languages=("zh",)) == ["it-zh"]
    assert ids(tags=("2026",)) == ["hr-2026"]
    assert ids(modified_after=datetime(2025, 1, 1, tzinfo=UTC)) == ["hr-2026", "it-zh"]
    assert ids(modified_before=datetime(2025, 6, 1, tzinfo=UTC)) == ["hr-2024", "it-zh"]  # both ends included
    assert ids(doc_types=("pdf",), tags=("2026",)) == []


def test_cjk_vector_is_searched_by_name(index):
    add(index, document("zh-doc", ["差旅 报销 规定"], public=True, language="zh", multilingual=unit(5, 4)))
    add(index, document("en-doc", ["travel expenses"], public=True))
    query = IndexQuery(limit=5, dense=unit(5, 4), dense_vector=DENSE_MULTI, access=PUBLIC_ONLY, with_dense=True)
    hits = index.search(query)
    assert [h.document_id for h in hits] == ["zh-doc"]  # English chunks carry no CJK vector
    assert hits[0].dense is not None and len(hits[0].dense) == 4
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    with_sparse = index.search(replace(query, sparse=SPARSE.encode_query("travel expenses")))
    assert {h.document_id for h in with_sparse} == {"zh-doc", "en-doc"}
