"""Real parsers on the real sample files of every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.documents import BlockKind
from ingest.parsing import looks_like_heading, text_blocks
from ingest.sandbox import ParseLimits, parse_file
from tests.conftest import FACTS, SAMPLE_DOCS

FILES = sorted(p for p in SAMPLE_DOCS.iterdir() if p.is_file())


def test_the_sample_corpus_covers_every_format_in_both_languages():
    suffixes = {p.suffix for p in FILES}
    assert suffixes == {".pdf", ".docx", ".pptx", ".xlsx", ".html", ".md", ".eml", ".txt"}
    languages = [f["language"] for f in json.loads(FACTS.read_text())]
    assert languages.count("zh") >= 10 and languages.count("en") >= 10


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_sample_file_parses_with_text_and_a_title(path: Path):
    doc_type, document = parse_file(path, ParseLimits())
    assert doc_type == path.suffix.lstrip(".")
    assert document.title.strip()
    text = "\n".join(b.text for b in document.blocks)
    assert len(text) > 300
    for fact in json.loads(FACTS.read_text()):
        if fact["file"] == path.name:
            # Whitespace may be normalized across line wraps; the words must all be there.
            assert " ".join(fact["answer"].split()) in " ".join(text.split()), fact["question"]


def test_pdf_pages_are_numbered_and_facts_land_on_their_page():
    facts = [f for f in json.loads(FACTS.read_text()) if f["file"].endswith(".pdf")]
    assert {f.get("page") for f in facts} >= {1, 3}
    for fact in facts:
        _, document = parse_file(SAMPLE_DOCS / fact["file"], ParseLimits())
        pages = {b.page for b in document.blocks if fact["answer"] in b.text}
        assert pages == {fact["page"]}, fact


def test_headings_come_from_structure_and_chinese_paragraphs_are_not_titles():
    _, document = parse_file(SAMPLE_DOCS / "员工手册.docx", ParseLimits())
    headings = [b for b in document.blocks if b.kind is BlockKind.HEADING]
    assert len(headings) >= 10
    assert {b.level for b in headings} >= {1, 2}
    assert all(not h.text.endswith("。") and len(h.text) <= 40 for h in headings)
    paragraphs = [b for b in document.blocks if b.kind is BlockKind.TEXT and len(b.text) > 60]
    assert paragraphs, "long Chinese paragraphs must be text blocks"


def test_spreadsheets_keep_rows_and_sheet_names():
    _, document = parse_file(SAMPLE_DOCS / "oncall-roster.xlsx", ParseLimits())
    tables = [b for b in document.blocks if b.kind is BlockKind.TABLE]
    assert len(tables) == 2 and all(len(t.rows) > 5 for t in tables)
    sheets = [b.text for b in document.blocks if b.kind is BlockKind.HEADING]
    assert sheets == ["Rotation Q2 2025", "Escalation Contacts"]


def test_email_subject_is_the_title():
    _, document = parse_file(SAMPLE_DOCS / "it-maintenance-notice-zh.eml", ParseLimits())
    assert "维护" in document.title


def test_plain_text_reader_joins_wrapped_lines_and_finds_headings():
    text = (
        "Scope\n"
        "This policy covers every employee, contractor and intern who travels on company\n"
        "business, in every country where we operate.\n"
        "第二章 报销\n"
        "报销单必须在出差结束后十五个工作日内提交，逾期提交的报销单需要部门负责人书面说明原因后方可\n"
        "受理。\n"
    )
    assert [(b.kind.value, b.text) for b in text_blocks(text)] == [
        ("heading", "Scope"),
        (
            "text",
            "This policy covers every employee, contractor and intern who travels on company "
            "business, in every country where we operate.",
        ),
        ("heading", "第二章 报销"),
        ("text", "报销单必须在出差结束后十五个工作日内提交，逾期提交的报销单需要部门负责人书面说明原因后方可受理。"),
    ]


def test_heading_rule_rejects_sentences_bullets_and_long_chinese():
    assert looks_like_heading("2.1 Booking rules")
    assert looks_like_heading("第三章 费用标准")
    assert not looks_like_heading("为规范公司员工因公出差的管理，合理控制差旅费用，特制定本制度。")
    assert not looks_like_heading(
        "公司实行弹性工作制标准工作时间为每天八小时每周四十小时员工可以在早上到岗并相应顺延下班时间"
    )
    assert not looks_like_heading("• Flights must be booked through the portal")
    assert not looks_like_heading("==========")
