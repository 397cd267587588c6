"""The retrieval service end to end: the real models, a real Qdrant Edge index, documents through the pipeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ingest.chunking import Chunker
from ingest.documents import ParsedDocument
from ingest.parsing import text_blocks
from ingest.pipeline import IngestPipeline, TextDocument
from retrieval.access import ALL_ACCESS, PUBLIC_ONLY, Principal
from retrieval.errors import ConfigError
from retrieval.index import DENSE, DENSE_MULTI
from retrieval.models import SearchHit
from retrieval.rerank import CrossEncoderReranker
from retrieval.search import (
    SPARSE_TRANSLATED,
    Mode,
    RankedHit,
    Retriever,
    SearchOptions,
    SearchRequest,
    group_hits,
    merge_text,
)
from retrieval.sparse import SparseEncoder
from tests.integration.test_rerank import build_cross_encoder

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALARM = (
    " The conveyor stopped and the line controller shows a red light. Do not restart the belt yourself; call the"
    " shift engineer, write the time in the logbook and wait at the panel."
)
ALARM_ZH = "传送带停止运行，控制器亮红灯。请勿自行重启皮带；联系值班工程师，在日志中记录时间并在控制面板旁等候。"
CODES = ("4471", "9120", "3308", "5562", "7719", "2284")

# A bilingual fixture on which each half of the hybrid search fails somewhere: the dense models understand
# paraphrases that share no word with the document, BM25 tells apart alarm sheets that differ only in a number.
DOCS = {
    "parking": (
        "Parking",
        "Staff may leave their vehicles in the underground garage on level B2, which opens at 7 am.",
    ),
    "vpn": ("Remote access", "Employees connect to the office network through the WireGuard gateway on port 51820."),
    "badges": ("Badges", "Lost access badges are replaced by facilities within one working day."),
    "停车": ("停车", "员工可以把汽车停放在地下二层车库，车库早上七点开放。"),
    "年假": ("年假", "入职满一年的员工每年享有十五天带薪年假。"),
    **{f"alarm-{c}": ("Alarm sheet", f"Alarm {c}." + ALARM) for c in CODES},
    **{f"报警-{c}": ("报警单", f"报警 {c}。" + ALARM_ZH) for c in CODES},
}
QUERIES = [
    ("Where should I put my automobile during the workday?", "parking"),
    ("How do I reach the intranet from home?", "vpn"),
    ("我的车应该放在哪里？", "停车"),
    ("The packing line shows alarm 9120, what now?", "alarm-9120"),
    ("alarm 5562", "alarm-5562"),
    ("报警 7719 怎么处理？", "报警-7719"),
    ("报警 2284", "报警-2284"),
]


def text_document(doc_id: str, title: str, text: str) -> TextDocument:
    return TextDocument(doc_id, f"/fixture/{doc_id}.txt", ParsedDocument(title, "txt", text_blocks(text)), doc_id, NOW)


def add(pipeline: IngestPipeline, docs: dict[str, tuple[str, str]], **access) -> None:
    report = pipeline.run_parsed([text_document(d, t, x) for d, (t, x) in docs.items()], **access)
    assert report.ok and report.indexed == len(docs)


@pytest.fixture
def bilingual(pipeline, retriever):
    add(pipeline, DOCS, public=True)
    return retriever


# Documents that say the same in the other language: a question about one is answered by either.
TRANSLATIONS = {
    "parking": "停车",
    "停车": "parking",
    **{f"alarm-{c}": f"报警-{c}" for c in CODES},
    **{f"报警-{c}": f"alarm-{c}" for c in CODES},
}


def reciprocal_rank(retriever: Retriever, mode: Mode, query: str, want: str, *, translation: bool = False) -> float:
    """1 / the rank of `want` in the top 3 (0 if absent); with `translation`, its translation counts too."""
    ids = [p.document_id for p in retriever.search(SearchRequest(query, ALL_ACCESS, k=3, mode=mode)).passages]
    wanted = {want, TRANSLATIONS.get(want, want)} if translation else {want}
    return next((1 / rank for rank, i in enumerate(ids, start=1) if i in wanted), 0.0)


def test_fusion_beats_both_halves_where_each_fails_on_different_queries(bilingual):
    rr = {
        m: [reciprocal_rank(bilingual, m, q, want, translation=m is Mode.HYBRID) for q, want in QUERIES]
        for m in (Mode.DENSE, Mode.SPARSE, Mode.HYBRID)
    }
    assert any(d < s for d, s in zip(rr[Mode.DENSE], rr[Mode.SPARSE], strict=False))  # dense misses what BM25 finds
    assert any(s == 0 < d for d, s in zip(rr[Mode.DENSE], rr[Mode.SPARSE], strict=False))  # and the other way round
    assert rr[Mode.HYBRID] == [1.0] * len(QUERIES)
    assert sum(rr[Mode.HYBRID]) > max(sum(rr[Mode.DENSE]), sum(rr[Mode.SPARSE]))


def test_each_list_judges_only_the_languages_its_model_knows_and_reports_stage_scores(bilingual):
    zh = bilingual.search(SearchRequest("我的车应该放在哪里？", ALL_ACCESS, k=3))
    en = bilingual.search(SearchRequest("Where do I park?", ALL_ACCESS, k=3))
    assert (zh.language, zh.lists) == ("zh", (DENSE_MULTI, "sparse"))  # MiniLM knows no Chinese
    assert (en.language, en.lists) == ("en", (DENSE, DENSE_MULTI, "sparse"))
    top = zh.passages[0]
    assert top.document_id == "停车" and set(top.scores) == {"fused", DENSE_MULTI}  # no word in common
    assert 0.0 < top.scores[DENSE_MULTI] <= 1.0 and top.score == top.scores["fused"]
    assert set(zh.timings_ms) >= {"embed", "search", "fuse", "shape"}
    parking = next(p for p in en.passages if p.document_id == "parking")
    assert set(parking.scores) >= {"fused", DENSE, DENSE_MULTI}


# Questions in one language about a document written only in the other (it has no translation in DOCS): the
# multilingual vector that every chunk carries finds them; BM25 and MiniLM cannot (no shared word, a model that
# knows no Chinese).
CROSSING = [
    ("怎样从家里连接公司网络？", "vpn"),
    ("丢失的门禁卡多久可以补办？", "badges"),
    ("How many days of paid annual leave do employees get?", "年假"),
]


@pytest.mark.parametrize(("query", "want"), CROSSING)
def test_a_question_finds_the_passage_written_in_the_other_language(bilingual, query, want):
    assert reciprocal_rank(bilingual, Mode.HYBRID, query, want) == 1.0
    assert reciprocal_rank(bilingual, Mode.DENSE, query, want) == 1.0


def test_without_the_multilingual_model_nothing_crosses_languages(bilingual, edge_index, embedder):
    monolingual = Retriever(edge_index, embedder, SparseEncoder())  # no multilingual model
    for query, want in CROSSING:
        assert reciprocal_rank(monolingual, Mode.HYBRID, query, want) < 1.0


def test_a_translation_of_the_question_gives_bm25_a_list_over_the_other_language(bilingual, edge_index, embedder):
    monolingual = Retriever(edge_index, embedder, SparseEncoder())  # only BM25 could cross, given a translation
    question, translation = "怎样从家里连接公司网络？", "How do I connect to the office network from home?"
    result = monolingual.search(SearchRequest(question, ALL_ACCESS, k=3, translation=translation))
    assert result.lists == ("sparse", SPARSE_TRANSLATED)  # MiniLM knows no Chinese; BM25 in each language
    assert result.passages[0].document_id == "vpn" and SPARSE_TRANSLATED in result.passages[0].scores
    assert all(p.language == "zh" or set(p.scores) <= {"fused", SPARSE_TRANSLATED} for p in result.passages)
    # A "translation" in the question's own language adds nothing.
    same = monolingual.search(SearchRequest(question, ALL_ACCESS, k=3, translation="从家里怎么连公司网络"))
    assert same.lists == ("sparse",)


def test_principal_gets_k_results_when_the_global_top_is_forbidden(pipeline, retriever):
    secret = {f"secret-{i}": ("Alarm sheet", f"Alarm {1000 + i}." + ALARM) for i in range(120)}
    add(pipeline, secret, acl=["group:plant-managers"])
    add(pipeline, {f"alarm-{c}": ("Alarm sheet", f"Alarm {c}." + ALARM) for c in CODES[:5]}, acl=["group:operators"])
    operator = Principal("olga", ("group:operators",))
    passages = retriever.search(SearchRequest("conveyor stopped red light", operator, k=5)).passages
    assert sorted(p.document_id for p in passages) == sorted(f"alarm-{c}" for c in CODES[:5])
    assert retriever.search(SearchRequest("conveyor stopped red light", PUBLIC_ONLY, k=5)).passages == []
    assert retriever.fetch("secret-3", [0], operator) == []
    assert [p.document_id for p in retriever.fetch("secret-3", [0], Principal("max", ("group:plant-managers",)))] == [
        "secret-3"
    ]


# -- shaping -----------------------------------------------------------------------------------------------

SECTION = " ".join(
    f"Step {n}: turn valve {n} by a quarter and read gauge {n} aloud before moving on." for n in range(1, 13)
)
MANUAL = (
    f"Valve procedure\n===============\n\n{SECTION}\n\n"
    "Appendix\n========\n\nThe appendix lists gauge serial numbers only."
)


@pytest.fixture
def manual(edge_index, embedder, multilingual_embedder):
    """A document of many small chunks (40 tokens, one sentence of overlap) in two sections."""
    small = IngestPipeline(
        index=edge_index,
        embedder=embedder,
        sparse=SparseEncoder(),
        chunker=Chunker(embedder, chunk_tokens=40, overlap_tokens=12),
        parsers=None,
        multilingual_embedder=multilingual_embedder,
    )
    add(small, {"manual": ("Valve manual", MANUAL)}, public=True)
    return edge_index.count("manual")


def test_neighbour_expansion_returns_the_surrounding_window_within_the_section(manual, retriever):
    assert manual >= 6
    request = SearchRequest("read gauge 7 aloud", PUBLIC_ONLY, k=1)
    alone = retriever.search(request).passages[0]
    wider = retriever.search(replace(request, neighbours=1)).passages[0]
    first, last = alone.chunks
    assert wider.chunks == (max(first - 1, 0), last + 1)
    assert alone.text.strip() in wider.text and len(wider.text) > len(alone.text)
    assert wider.text.count("Step 7:") == 1  # the overlapping sentences are not repeated
    everything = retriever.search(replace(request, neighbours=50)).passages[0]
    assert "appendix" not in everything.text.lower()  # expansion stops at the section's end
    assert everything.text.startswith("Step 1:") and "Step 12:" in everything.text


def test_one_long_document_cannot_fill_the_top_k(manual, pipeline, retriever):
    add(pipeline, {"gauges": ("Gauges", "Read each gauge aloud before you turn a valve.")}, public=True)
    passages = retriever.search(SearchRequest("turn valve read gauge aloud", PUBLIC_ONLY, k=5)).passages
    assert sum(p.document_id == "manual" for p in passages) <= SearchOptions().max_per_document
    assert "gauges" in {p.document_id for p in passages}


def hit(doc: str, chunk: int, text: str, score: float, headings=("A",)) -> RankedHit:
    h = SearchHit(
        id=f"{doc}#{chunk}",
        score=score,
        document_id=doc,
        source=f"/{doc}",
        title=doc,
        headings=headings,
        page=None,
        chunk=chunk,
        text=text,
    )
    return RankedHit(h, score, {"fused": score})


def test_adjacent_hits_merge_and_bridging_hits_join_groups():
    hits = [
        hit("d", 3, "c3", 0.9),
        hit("e", 0, "e0", 0.8),
        hit("d", 5, "c5", 0.7),
        hit("d", 4, "c4", 0.6),
        hit("d", 6, "c6", 0.5, headings=("B",)),
        hit("f", 0, "f0", 0.4),
    ]
    groups = group_hits(hits, k=3, max_per_document=3)
    assert [[(h.hit.document_id, h.hit.chunk) for h in g] for g in groups] == [
        [("d", 3), ("d", 4), ("d", 5)],  # chunk 4 bridged 3 and 5; chunk 6 is another section
        [("e", 0)],
        [("d", 6)],
    ]


def test_merging_drops_the_sentences_two_chunks_share():
    assert merge_text("One. Two. Three. ", "Three. Four. ") == "One. Two. Three. Four. "
    assert merge_text("一。二。", "二。三。") == "一。二。三。"
    assert merge_text("Alpha.", "Beta.") == "Alpha. Beta."


def test_score_floor_drops_weak_passages(bilingual, edge_index, embedder, multilingual_embedder):
    strict = Retriever(
        edge_index,
        embedder,
        SparseEncoder(),
        multilingual_embedder=multilingual_embedder,
        options=SearchOptions(score_floor=10.0),
    )
    assert strict.search(SearchRequest("alarm 5562", ALL_ACCESS)).passages == []
    loose = Retriever(
        edge_index,
        embedder,
        SparseEncoder(),
        multilingual_embedder=multilingual_embedder,
        options=SearchOptions(score_floor=0.0),
    )
    assert loose.search(SearchRequest("alarm 5562", ALL_ACCESS)).passages


def test_rerank_stage_reorders_by_the_cross_encoder(bilingual, edge_index, embedder, multilingual_embedder, tmp_path):
    reranker = CrossEncoderReranker(build_cross_encoder(tmp_path / "tiny"))
    reranker.start()
    retriever = Retriever(
        edge_index,
        embedder,
        SparseEncoder(),
        multilingual_embedder=multilingual_embedder,
        reranker=reranker,
        options=SearchOptions(rerank_candidates=8, max_per_document=1),
    )
    result = retriever.search(SearchRequest("alarm 5562", ALL_ACCESS, k=8, mode=Mode.RERANK))
    scores = [p.scores["rerank"] for p in result.passages]
    assert scores == sorted(scores, reverse=True) and [p.score for p in result.passages] == scores
    assert all({"fused", "rerank"} <= set(p.scores) for p in result.passages)
    # The order is the cross-encoder's own: score the hybrid candidates directly and compare.
    hybrid, _ = retriever.hits(SearchRequest("alarm 5562", ALL_ACCESS, mode=Mode.HYBRID), limit=40)
    direct = reranker.score("alarm 5562", [f"{h.hit.title}\n{h.hit.text}" for h in hybrid[:8]])
    assert max(scores) == pytest.approx(max(direct), abs=1e-5)
    assert "rerank" in result.timings_ms
    with pytest.raises(ConfigError, match="RERANK_MODEL"):
        Retriever(edge_index, embedder, SparseEncoder()).search(SearchRequest("x", ALL_ACCESS, mode=Mode.RERANK))
