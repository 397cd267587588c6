"""The context packer with simple counters whose arithmetic a reader can check (with the packaged model's counter:
tests/integration/test_packing.py)."""

from __future__ import annotations

import pytest

from retrieval.packing import PackedContext, TokenCounter, pack_context
from retrieval.passages import Passage
from retrieval.sentences import split_sentences


class Words:
    """Whitespace-separated words: "[1] Handbook\\n" is 2 tokens, the separator "\\n\\n" is 0."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]


class Characters:
    """Non-blank characters, roughly what a tokenizer does with Chinese."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [sum(not c.isspace() for c in t) for t in texts]


class Superadditive:
    """Counts a joined text as more than its pieces (one extra token per 5 words), as merges across pieces can."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + len(t.split()) // 5 for t in texts]


class Prefixed:
    """Adds one token to every text it counts, so pieces count as more than their join, as a BOS token does."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 1 for t in texts]


def passage(text: str, title: str = "Doc") -> Passage:
    return Passage(
        document_id=title,
        source=f"{title}.md",
        title=title,
        doc_type="md",
        headings=(),
        page=None,
        chunks=(0, 0),
        text=text,
        language="en",
        score=1.0,
    )


def pack(passages, counter, budget, **kwargs) -> PackedContext:
    kwargs.setdefault("min_cut_tokens", 1)
    return pack_context(passages, counter, budget, **kwargs)


def test_everything_fits_whole_and_in_order():
    items = [passage("Alpha beta.", "A"), passage("Gamma delta epsilon.", "B"), passage("Zeta.", "C")]
    packed = pack(items, Words(), 100)
    assert packed.text == "[1] A\nAlpha beta.\n\n[2] B\nGamma delta epsilon.\n\n[3] C\nZeta."
    assert packed.tokens == 2 + 2 + 2 + 3 + 2 + 1
    assert packed.passages == tuple(items)
    assert (packed.kept, packed.truncated, packed.dropped) == ((0, 1, 2), (), ())


def test_empty_input_and_zero_budget():
    assert pack([], Words(), 10).text == ""
    packed = pack([passage("Alpha beta.")], Words(), 0)
    assert (packed.text, packed.tokens, packed.kept, packed.dropped) == ("", 0, (), (0,))
    with pytest.raises(ValueError):
        pack([], Words(), -1)


def test_english_passage_is_cut_after_the_last_whole_sentence_that_fits():
    item = passage("One two three. Four five six. Seven eight nine.", "A")
    for budget in (8, 9, 10):  # header 2 + two sentences 6; the third needs 3 more
        packed = pack([item], Words(), budget)
        assert packed.text == "[1] A\nOne two three. Four five six."
        assert packed.passages[0].text == "One two three. Four five six."
        assert packed.passages[0].title == "A"  # a copy of the passage, not a new one
        assert (packed.truncated, packed.dropped, packed.tokens) == ((0,), (), 8)
    assert pack([item], Words(), 11).truncated == ()


def test_chinese_passage_is_cut_after_a_full_stop():
    item = passage("第一句话。第二句话很长。第三句。", "手册")  # 5 + 7 + 4 characters
    header = 5  # "[1] 手册"
    assert pack([item], Characters(), header + 15).passages[0].text == "第一句话。第二句话很长。"
    assert pack([item], Characters(), header + 12).passages[0].text == "第一句话。第二句话很长。"
    assert pack([item], Characters(), header + 11).passages[0].text == "第一句话。"
    assert pack([item], Characters(), header + 4).dropped == (0,)


def test_a_first_sentence_that_does_not_fit_drops_the_passage_and_a_later_one_fills_the_room():
    items = [
        passage("One two three four five.", "A"),
        passage("A first sentence of nine words that is long. Short.", "B"),
        passage("Tiny one.", "C"),
    ]
    packed = pack(items, Words(), 7 + 8)  # A with its header is 7; B's first sentence alone needs 2 + 9
    assert (packed.kept, packed.dropped, packed.truncated) == ((0, 2), (1,), ())
    assert packed.text == "[1] A\nOne two three four five.\n\n[2] C\nTiny one."  # numbered as rendered


def test_a_cut_keeps_every_sentence_that_fits_even_when_pieces_overcount():
    item = passage("A b. C d. E f.", "A")  # sentences count 3 + 3 with Prefixed, "A b. C d." only 5
    packed = pack([item], Prefixed(), 3 + 5)  # header 3
    assert packed.passages[0].text == "A b. C d."
    assert packed.tokens == 7  # the rendered context, counted as a whole


def test_a_single_sentence_is_never_cut():
    packed = pack([passage("One two three four five six seven eight", "A")], Words(), 6)
    assert (packed.text, packed.dropped) == ("", (0,))


def test_a_cut_shorter_than_min_cut_tokens_drops_the_passage():
    item = passage("Yes. Four five six seven.", "A")
    assert pack([item], Words(), 4, min_cut_tokens=1).passages[0].text == "Yes."
    assert pack([item], Words(), 4, min_cut_tokens=2).dropped == (0,)


def test_headers_and_separators_count_against_the_budget():
    items = [passage("One two.", "A"), passage("Three four.", "B")]
    verbose = lambda n, p: f"Source number {n}: {p.title}\n"  # noqa: E731 - 4 words
    assert pack(items, Words(), 6, header=verbose).kept == (0,)
    assert pack(items, Words(), 12, header=verbose).kept == (0, 1)
    assert pack(items, Words(), 8, separator="\n---\n").kept == (0,)  # 2 + 2 + 1 + 2 + 2 = 9
    packed = pack(items, Words(), 9, separator="\n---\n")
    assert packed.text == "[1] A\nOne two.\n---\n[2] B\nThree four."


CORPUS = [
    passage("Annual leave is 15 days. Up to five days carry over. Carry-over needs approval by March.", "Leave"),
    passage("年假为十五天。最多可结转五天。结转需在三月前获得批准。", "年假"),
    passage("The VPN gateway listens on port 443.", "VPN"),
    passage("Expenses over 500 EUR need a receipt. Receipts are scanned.\nOriginals are kept for ten years.", "Pay"),
    passage("加班需提前申请！是否批准由部门负责人决定？Overtime needs approval.", "加班"),
]


def check_invariants(packed: PackedContext, items: list[Passage], counter: TokenCounter, budget: int) -> None:
    assert packed.tokens == (counter.count_tokens([packed.text])[0] if packed.text else 0) <= budget
    assert sorted(packed.kept + packed.dropped) == list(range(len(items)))
    assert list(packed.kept) == sorted(packed.kept)
    for kept, index in zip(packed.passages, packed.kept, strict=True):
        original = items[index]
        if index in packed.truncated:
            sentences = split_sentences(original.text)
            cuts = {"".join(sentences[:k]).rstrip() for k in range(1, len(sentences))}
            assert kept.text in cuts  # whole leading sentences, never part of one
        else:
            assert kept is original
        assert kept.text in packed.text


@pytest.mark.parametrize("counter", [Words(), Characters(), Superadditive(), Prefixed()], ids=type)
def test_rendered_context_never_exceeds_the_budget(counter):
    for budget in range(0, 160):
        for min_cut_tokens in (1, 4):
            packed = pack(CORPUS, counter, budget, min_cut_tokens=min_cut_tokens)
            check_invariants(packed, CORPUS, counter, budget)


def test_citation_does_not_repeat_a_title_that_is_also_the_first_heading():
    from retrieval.passages import Passage

    base = dict(document_id="d", source="/s.pdf", doc_type="pdf", chunks=(0, 0), text="x", language="en", score=1.0)
    same = Passage(title="Guide", headings=("Guide", "Setup"), page=3, **base)
    other = Passage(title="Guide", headings=("Intro",), page=None, **base)
    assert same.citation == "Guide — Setup — p. 3"
    assert other.citation == "Guide — Intro"
    assert Passage(title="", headings=(), page=None, **base).citation == "/s.pdf"
