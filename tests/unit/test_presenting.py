"""The sources block under an answer, as each channel words and marks it up (serve.presenting)."""

from __future__ import annotations

from answer.answerer import Answer, AnswerMode, Citation
from serve.presenting import CHAT, CLI, SLACK, Markup, source_line, sources_block, sources_lines

HANDBOOK = Citation(1, "doc-1", "Handbook", "hr/handbook.pdf", ("Handbook", "Leave", "Carry-over"), 4, "…", 0.9)
VPN = Citation(2, "doc-2", "", "it/vpn [2024] | setup>.md", (), None, "…", 0.5)


def answer(
    mode: AnswerMode = AnswerMode.GENERATED, *, cited: bool = True, citations: list[Citation] | None = None
) -> Answer:
    return Answer("text [1][2]", mode, [HANDBOOK, VPN] if citations is None else citations, "q", "en", cited=cited)


def test_plain_text_lines_carry_title_section_page_and_source():
    assert source_line(HANDBOOK, Markup.TEXT) == "[1] Handbook — Leave > Carry-over — p. 4 (hr/handbook.pdf)"
    assert source_line(VPN, Markup.TEXT) == "[2] it/vpn [2024] | setup>.md (it/vpn [2024] | setup>.md)"


def test_cli_wording():
    assert sources_block(answer(), CLI) == (
        "Sources:\n  [1] Handbook — Leave > Carry-over — p. 4 (hr/handbook.pdf)\n"
        "  [2] it/vpn [2024] | setup>.md (it/vpn [2024] | setup>.md)"
    )
    assert sources_block(answer(cited=False), CLI).startswith("Sources:\n")
    assert sources_block(answer(AnswerMode.NOT_FOUND), CLI).startswith("Closest sources:\n")


def test_chat_wording_names_cited_sources_references():
    assert sources_block(answer(), CHAT).startswith("References:\n[1] Handbook")
    assert sources_block(answer(cited=False), CHAT).startswith("Sources:\n")
    assert sources_block(answer(AnswerMode.NOT_FOUND), CHAT).startswith("Closest sources:\n")


def test_slack_mrkdwn_links_and_escapes_what_would_end_a_link():
    url = "https://wiki/{source}?id={document_id}"
    assert sources_lines(answer(), SLACK, source_url=url) == [
        "Sources:",
        "[1] <https://wiki/hr/handbook.pdf?id=doc-1|Handbook>, p. 4",
        "[2] <https://wiki/it/vpn [2024] | setup>.md?id=doc-2|vpn [2024] / setup›.md>",
    ]
    assert sources_lines(answer(cited=False), SLACK)[:2] == ["Written from:", "[1] *Handbook*, p. 4"]
    assert sources_lines(answer(AnswerMode.NOT_FOUND), SLACK)[0] == "Closest documents:"


def test_markdown_links_escape_brackets_and_parentheses():
    assert (
        source_line(VPN, Markup.MARKDOWN, "https://wiki/x_(1)/{document_id}")
        == "[2] [vpn \\[2024\\] | setup>.md](https://wiki/x_%281%29/doc-2)"
    )
    assert source_line(HANDBOOK, Markup.MARKDOWN) == "[1] **Handbook**, p. 4"


def test_an_answer_without_sources_has_no_block():
    assert sources_block(answer(citations=[]), CLI) == "" and sources_lines(answer(citations=[]), SLACK) == []
