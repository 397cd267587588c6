"""The chunker with the packaged model's real tokenizer (its tokenizer.json, read by `tokenizers` alone: no
weights, and not the seconds of importing transformers)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ingest.chunking import Chunker, embed_text
from ingest.documents import Block, BlockKind, ParsedDocument
from retrieval.sentences import split_sentences


@pytest.fixture(scope="module")
def counter():
    from tokenizers import Tokenizer

    from retrieval.embedding import PACKAGED_MODEL, resolve_model_path

    tokenizer = Tokenizer.from_file(str(Path(resolve_model_path(PACKAGED_MODEL)) / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads and truncates to the model's 128 tokens; a counter must do neither
    tokenizer.no_truncation()

    class Counter:
        def count_tokens(self, texts):
            return [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)] if texts else []

    return Counter()


def doc(*blocks: Block, title="Handbook") -> ParsedDocument:
    return ParsedDocument(title=title, doc_type="docx", blocks=list(blocks))


H = lambda text, level=1, page=None: Block(BlockKind.HEADING, text, level=level, page=page)  # noqa: E731
T = lambda text, page=None: Block(BlockKind.TEXT, text, page=page)  # noqa: E731

ZH_PARAGRAPH = (
    "公司实行弹性工作制，员工可以在早上八点半至十点半之间到岗。" * 6 + "加班需提前申请！是否批准由部门负责人决定？" * 4
)


def test_sentences_split_at_chinese_and_english_ends():
    assert split_sentences("第一句。第二句！第三句？第四句；Fifth one. Sixth") == [
        "第一句。",
        "第二句！",
        "第三句？",
        "第四句；",
        "Fifth one. ",
        "Sixth",
    ]
    assert split_sentences("Version 3.5 is out. Next") == ["Version 3.5 is out. ", "Next"]


def test_heading_path_and_pages_are_kept(counter):
    chunks = Chunker(counter).chunk(
        doc(
            H("第一章 总则"),
            T("本制度适用于全体员工。", page=1),
            H("第一节 适用范围", level=2),
            T("包括试用期员工。", page=1),
            H("第二章 费用"),
            T("住宿标准见下表。", page=2),
        )
    )
    assert [(c.headings, c.page) for c in chunks] == [
        (("第一章 总则",), 1),
        (("第一章 总则", "第一节 适用范围"), 1),
        (("第二章 费用",), 2),
    ]
    assert all(c.language == "zh" for c in chunks)


def test_budget_includes_the_prefix_and_cuts_only_at_sentence_ends(counter):
    chunker = Chunker(counter, chunk_tokens=120, overlap_tokens=20)
    document = doc(H("第二部分 工作时间与考勤"), T(ZH_PARAGRAPH))
    chunks = chunker.chunk(document)
    assert len(chunks) >= 3
    for c in chunks:
        assert counter.count_tokens([embed_text(document.title, c.headings, c.text)])[0] <= 120
        assert c.text.endswith(("。", "！", "？")), c.text[-10:]


def test_overlap_carries_whole_sentences(counter):
    chunks = Chunker(counter, chunk_tokens=100, overlap_tokens=30).chunk(doc(T(ZH_PARAGRAPH)))
    for previous, current in itertools.pairwise(chunks):
        first_sentence = split_sentences(current.text)[0]
        assert previous.text.endswith(first_sentence)


def test_a_sentence_longer_than_the_budget_is_cut_near_a_comma(counter):
    run_on = "，".join(f"第{i}项规定需要遵守" for i in range(80)) + "。"
    chunks = Chunker(counter, chunk_tokens=80, overlap_tokens=0).chunk(doc(T(run_on), title=""))
    assert len(chunks) > 2
    assert all(counter.count_tokens([c.text])[0] <= 80 for c in chunks)
    assert "".join(c.text for c in chunks) == run_on  # nothing lost, nothing duplicated without overlap


def test_tables_stay_whole_or_split_by_rows_with_the_header(counter):
    small = Block(BlockKind.TABLE, "", rows=(("城市", "标准"), ("北京", "600元"), ("上海", "650元")))
    chunks = Chunker(counter).chunk(doc(H("住宿标准"), small))
    assert [c.text for c in chunks] == ["城市 | 标准\n北京 | 600元\n上海 | 650元"]

    rows = (
        ("Week", "Primary", "Secondary"),
        *tuple((f"2025-W{i:02}", f"Person {i}", f"Backup {i}") for i in range(60)),
    )
    chunks = Chunker(counter, chunk_tokens=100, overlap_tokens=20).chunk(doc(Block(BlockKind.TABLE, "", rows=rows)))
    assert len(chunks) > 3
    assert all(c.text.startswith("Week | Primary | Secondary\n") for c in chunks)
    body_rows = [line for c in chunks for line in c.text.split("\n")[1:]]
    assert body_rows == [" | ".join(r) for r in rows[1:]]  # every row once, in order


def test_a_heading_with_nothing_under_it_is_kept_as_text(counter):
    chunks = Chunker(counter).chunk(doc(H("Appendix A"), H("Appendix B"), T("Only B has a body.")))
    assert [c.text for c in chunks] == ["Appendix A", "Only B has a body."]
    assert chunks[1].headings == ("Appendix B",)


def test_embed_text_prefixes_title_and_headings_once():
    assert embed_text("Handbook", ("Handbook", "Leave"), "Text.") == "Handbook > Leave\n\nText."
    assert embed_text("", (), "Text.") == "Text."
