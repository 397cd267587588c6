"""The ingestion pipeline end to end: real parsers, the real packaged model, a real Qdrant Edge index."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np

from ingest.discovery import document_id, source_of
from retrieval.access import ALL_ACCESS
from retrieval.index import IndexQuery
from retrieval.models import point_id
from retrieval.search import SearchRequest
from retrieval.sparse import SparseEncoder
from tests.conftest import FACTS


def long_markdown(sections: int, tag: str) -> str:
    """A procedure with one short section per step: chunks never cross a heading, so one chunk per step."""
    return f"# Procedure ({tag})\n\n" + "\n\n".join(
        f"## Step {i}\n\nStep {i} of the {tag} revision: check the valve, log the reading, sign the sheet."
        for i in range(sections)
    )


def payloads(index, doc_id: str) -> list[dict]:
    """Every stored chunk of a document, read back through a search that cannot miss (limit >> size)."""
    probe = np.ones(index.spec.dense_size, dtype=np.float32)
    hits = index.search(IndexQuery(500, probe, SparseEncoder().encode_query("step revision"), candidates=500))
    return [h for h in hits if h.document_id == doc_id]


def search(retriever, query: str, *, k: int):
    return retriever.search(SearchRequest(query, ALL_ACCESS, k=k)).passages


def test_sample_corpus_is_indexed_with_complete_payloads(pipeline, sample_corpus, edge_index, retriever):
    report = pipeline.run([sample_corpus], acl=["group:staff"])
    assert report.ok and report.indexed == 20 and report.files == 20
    assert report.chunks == report.embedded == edge_index.count() > 100
    hits = search(retriever, "VPN gateway port", k=3)
    assert hits and hits[0].source.endswith(".md")
    record = edge_index.fetch([point_id(hits[0].document_id, hits[0].chunks[0])], ALL_ACCESS)[0]
    record = edge_index.shard.retrieve([record.id], with_payload=True, with_vector=False)[0].payload
    for key in (
        "document_id",
        "source",
        "title",
        "headings",
        "page",
        "chunk",
        "chunk_count",
        "content_hash",
        "language",
        "acl",
        "ingested_at",
        "modified_at",
        "doc_type",
        "text",
        "revision",
        "tags",
        "path_prefixes",
        "visibility",
    ):
        assert key in record, key
    assert record["acl"] == ["group:staff"] and len(record["content_hash"]) == 64
    pdf_hits = search(retriever, "Tripwise booking portal flights", k=5)
    assert any(h.source.endswith("travel-policy.pdf") and h.page for h in pdf_hits)


def golden_scores(retriever, facts: list[dict]) -> tuple[int, int]:
    """(questions whose file is in the top 5, questions whose file is first)."""
    top = [search(retriever, fact["question"], k=5) for fact in facts]
    found = sum(any(Path(p.source).name == fact["file"] for p in hits) for fact, hits in zip(facts, top, strict=False))
    first = sum(
        bool(hits) and Path(hits[0].source).name == fact["file"] for fact, hits in zip(facts, top, strict=False)
    )
    return found, first


def test_golden_questions_find_their_document_in_either_language(pipeline, sample_corpus, retriever):
    pipeline.run([sample_corpus])
    found, first = golden_scores(retriever, json.loads(FACTS.read_text()))
    # Measured 38/38 in the top 5 and 38/38 first with the adaptive fusion.
    assert found == 38 and first >= 36
    # The same questions asked in the other language (the English files asked in Chinese and the reverse):
    # measured 38/38 in the top 5, 33/38 first (four of the five misses are second, after a file on the same
    # topic in the question's language).
    found, first = golden_scores(retriever, json.loads(FACTS.with_name("facts-crosslingual.json").read_text()))
    assert found >= 36 and first >= 30


def extractive_containment(retriever, facts: list[dict]) -> dict[str, int]:
    """Per question language, how many extractive answers (no model) contain the expected answer."""
    from answer.answerer import Answerer, AnswerMode, AskRequest
    from answer.evaluation import contains

    answerer = Answerer(retriever, None)
    hits: dict[str, int] = {"en": 0, "zh": 0}
    for fact in facts:
        answer = answerer.answer(AskRequest(fact["question"], ALL_ACCESS))
        assert answer.mode is AnswerMode.EXTRACTIVE, (fact["question"], answer.mode)
        assert len(answer.text) < 600, answer.text  # two sentences, not a page
        hits[fact["language"]] += int(contains(re.sub(r"\s*\[\d+\]", "", answer.text), [fact["answer"]]))
    return hits


def test_extractive_answers_contain_the_answer_in_either_language_and_across(pipeline, sample_corpus, retriever):
    pipeline.run([sample_corpus])
    # Measured 19/19 English and 19/19 Chinese (bench/extractive.py; 0.95 is the target).
    assert extractive_containment(retriever, json.loads(FACTS.read_text())) == {"en": 19, "zh": 19}
    # Asked in the other language (`language` is the question's): measured 17/19 and 15/19; two of the misses
    # never reach the passages (retrieval ranks the answer's document below the context).
    across = extractive_containment(retriever, json.loads(FACTS.with_name("facts-crosslingual.json").read_text()))
    assert across["en"] >= 16 and across["zh"] >= 14 and sum(across.values()) >= 31, across


def test_rerun_on_unchanged_files_embeds_nothing(pipeline, sample_corpus, edge_index):
    events = []
    first = pipeline.run([sample_corpus], on_start=events.append, on_file=events.append)
    assert events[0] == 20 and sorted((e.status, e.chunks > 0) for e in events[1:]) == [("indexed", True)] * 20
    assert sum(e.chunks for e in events[1:]) == first.chunks
    points = edge_index.count()
    events.clear()
    second = pipeline.run([sample_corpus], on_file=events.append)
    assert [e.status for e in events] == ["unchanged"] * 20
    assert (second.indexed, second.unchanged, second.embedded, second.chunks) == (0, 20, 0, 0)
    assert edge_index.count() == points == first.chunks
    assert first.optimize_seconds is None and second.optimize_seconds is None  # below the 5,000-chunk threshold


def test_a_large_run_builds_the_vector_indexes(pipeline, sample_corpus, edge_index, retriever):
    pipeline.optimize_after_chunks = 50
    report = pipeline.run([sample_corpus])
    assert report.optimize_seconds is not None and report.chunks > 50
    passages = search(retriever, "Which port does the VPN gateway listen on?", k=3)
    assert passages[0].source.endswith("vpn-setup.md")


def test_changing_the_acl_reindexes(pipeline, sample_corpus, edge_index):
    pipeline.run([sample_corpus / "vpn-setup.md"], acl=["group:it"])
    report = pipeline.run([sample_corpus / "vpn-setup.md"], acl=["group:it", "group:sre"])
    assert report.indexed == 1
    state = edge_index.document_state(document_id(source_of(sample_corpus / "vpn-setup.md")))
    assert state.complete


def test_a_shrinking_file_leaves_exactly_its_new_chunks(pipeline, tmp_path, edge_index):
    path = tmp_path / "corpus" / "procedure.md"
    path.parent.mkdir()
    path.write_text(long_markdown(10, "old"))
    assert pipeline.run([path.parent]).chunks == 10
    path.write_text(long_markdown(6, "new"))
    report = pipeline.run([path.parent])
    doc = document_id(source_of(path))
    assert report.indexed == 1 and report.chunks == 6
    assert edge_index.count(doc) == 6
    stored = payloads(edge_index, doc)
    assert len(stored) == 6 and all("new revision" in h.text for h in stored)


def test_the_document_never_disappears_while_it_is_replaced(pipeline, tmp_path, edge_index):
    path = tmp_path / "corpus" / "procedure.md"
    path.parent.mkdir()
    path.write_text(long_markdown(12, "old"))
    pipeline.run([path.parent])
    doc = document_id(source_of(path))
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(edge_index.count(doc))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for revision in range(3):
            path.write_text(long_markdown(8 + revision, f"r{revision}"))
            pipeline.run([path.parent])
    finally:
        done.set()
        watcher.join()
    assert len(seen) > 10 and min(seen) > 0


def test_prune_removes_documents_whose_files_are_gone(pipeline, sample_corpus, edge_index):
    pipeline.run([sample_corpus])
    gone = sample_corpus / "vpn-setup.md"
    gone.unlink()
    kept = pipeline.run([sample_corpus])
    assert kept.removed == 0 and edge_index.document_state(document_id(source_of(gone))) is not None
    report = pipeline.run([sample_corpus], prune=True)
    assert report.removed == 1 and report.unchanged == 19
    assert edge_index.document_state(document_id(source_of(gone))) is None
    assert sorted(s for _, s in edge_index.documents()) == sorted(source_of(p) for p in sample_corpus.iterdir())


def test_prune_only_touches_the_given_roots(pipeline, tmp_path, edge_index):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
        (folder / "note.md").write_text(long_markdown(1, folder.name))
    pipeline.run([a, b])
    (b / "note.md").unlink()
    report = pipeline.run([a], prune=True)
    assert report.removed == 0  # b is not being ingested, so its documents are not judged
    assert pipeline.run([b], prune=True).removed == 1


def test_a_file_that_becomes_unparseable_keeps_its_indexed_chunks(pipeline, tmp_path, edge_index):
    path = tmp_path / "corpus" / "guide.md"
    path.parent.mkdir()
    path.write_text(long_markdown(3, "good"))
    pipeline.run([path.parent])
    path.write_bytes(b"\x00\x01\x02 binary garbage")
    report = pipeline.run([path.parent])
    assert [f.path for f in report.failed] == [str(path.resolve())]
    assert edge_index.count(document_id(source_of(path))) == 3


def test_bfloat16_embeddings_match_float32():
    """The precision `auto` may pick: its vectors must rank like float32's (measured cosine >= 0.9999)."""
    from retrieval.embedding import SentenceTransformerEmbedder

    texts = [
        "The VPN gateway listens on port 8443; use the Brightkelp client to connect.",
        "报销单必须在出差结束后十五个工作日内提交，逾期需部门负责人说明原因。",
        "On-call engineers hand over the pager every Tuesday at 10:00 Pacific time.",
    ] * 4
    fp32 = SentenceTransformerEmbedder(precision="float32")
    bf16 = SentenceTransformerEmbedder(precision="bfloat16")
    fp32.start()
    bf16.start()
    a, b = fp32.embed_documents(texts), bf16.embed_documents(texts)
    assert bf16.effective_precision == "bfloat16" and fp32.effective_precision == "float32"
    assert float((a * b).sum(axis=1).min()) > 0.999
    query = "which port does the VPN use"
    assert float(fp32.embed_query(query) @ bf16.embed_query(query)) > 0.999


def test_the_models_at_once_index_what_the_models_in_turn_index(pipeline, sample_corpus, edge_index, tmp_path):
    """`overlap_models` runs the multilingual model on its own thread beside the main one: same chunks, same
    vectors (the composition root turns it on only where cores are left over)."""
    from ingest.pipeline import IngestPipeline
    from retrieval.edge_index import EdgeIndex

    in_turn = pipeline.run([sample_corpus])
    other = EdgeIndex(tmp_path / "overlap", edge_index.spec)
    other.start()
    try:
        at_once = IngestPipeline(
            index=other,
            embedder=pipeline.embedder,
            sparse=pipeline.sparse,
            chunker=pipeline.chunker,
            parsers=pipeline.parsers,
            multilingual_embedder=pipeline.multilingual_embedder,
            overlap_models=True,
        )
        report = at_once.run([sample_corpus])
        assert (report.indexed, report.chunks, report.failed) == (in_turn.indexed, in_turn.chunks, [])
        assert other.count() == edge_index.count()
    finally:
        other.close()
