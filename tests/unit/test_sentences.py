"""Sentence boundaries: abbreviations and decimals stay inside a sentence, Chinese splits by its punctuation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retrieval.sentences import sentence_pieces, split_sentences

DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Use a strong passphrase, e.g. four random words. Change it yearly.",
            ["Use a strong passphrase, e.g. four random words. ", "Change it yearly."],
        ),
        (
            "Ask Dr. Lin about the results. She replies within a day.",
            ["Ask Dr. Lin about the results. ", "She replies within a day."],
        ),
        (
            "Meet in Room No. 5 on the third floor. Bring your badge.",
            ["Meet in Room No. 5 on the third floor. ", "Bring your badge."],
        ),
        (
            "The U.S. office opens at 9. Visitors sign in at reception.",
            ["The U.S. office opens at 9. ", "Visitors sign in at reception."],
        ),
        (
            "Version 3.5 is out. The 2.0 branch gets fixes until June.",
            ["Version 3.5 is out. ", "The 2.0 branch gets fixes until June."],
        ),
    ],
)
def test_abbreviations_and_decimals_do_not_end_a_sentence(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_chinese_splits_at_its_punctuation_closing_quotes_and_line_breaks() -> None:
    text = "他说：“好。”然后离开了（真的！）是吗?是的!请假需提前申请；\n下一行"
    assert split_sentences(text) == [
        "他说：“好。”",
        "然后离开了（真的！）",
        "是吗?",
        "是的!",
        "请假需提前申请；\n",
        "下一行",
    ]


def test_mixed_chinese_and_english() -> None:
    text = "请联系IT。Ask Dr. Lin at the U.S. office first. 费用为3.5万元！Done"
    assert split_sentences(text) == ["请联系IT。", "Ask Dr. Lin at the U.S. office first. ", "费用为3.5万元！", "Done"]


def test_a_period_before_a_line_break_always_ends_the_sentence() -> None:
    # The English splitter alone would join these (a line break reads as a space to it, and a time follows).
    assert split_sentences("The certificate expires.\n\n16:02 | The alert fires.") == [
        "The certificate expires.\n\n",
        "16:02 | The alert fires.",
    ]


def test_whitespace_around_the_text_changes_no_boundary() -> None:
    # blingfire sees text with trailing whitespace as one sentence; the splitter must not.
    assert split_sentences("  Lead on. Next one.  \n") == ["  Lead on. ", "Next one.  \n"]


def test_pieces_join_back_to_the_text_and_chinese_cuts_only_at_its_punctuation() -> None:
    """Over the sample corpus's plain-text files: nothing is lost, and text without an English period (Chinese)
    is cut by Docent's own rules alone."""
    rule_cut = re.compile(r"[。！？；!?][”’」』)）\"']*\s*$|\n\s*$")
    checked = 0
    for path in sorted(DOCS.glob("*.*")):
        if path.suffix not in {".md", ".txt", ".eml"}:
            continue
        for paragraph in path.read_text(encoding="utf-8").split("\n\n"):
            pieces = sentence_pieces(paragraph)
            assert "".join(pieces) == paragraph
            if "." not in paragraph:
                assert all(rule_cut.search(piece) for piece in pieces[:-1]), pieces
                checked += len(pieces)
    assert checked > 100
