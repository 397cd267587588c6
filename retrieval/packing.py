"""Fitting ranked passages into the generator's context budget, cutting only between sentences.

Tokens are counted with the generator's tokenizer, not the embedder's: the budget is the generator's window.
A passage that does not fit whole keeps its leading sentences; a sentence is never split, since half a sentence
("leave can be carried over" without "only with approval") misleads more than it informs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from retrieval.passages import Passage
from retrieval.sentences import split_sentences


class TokenCounter(Protocol):
    """Tokens per text, without special tokens; `Embedder.count_tokens` has this shape."""

    def count_tokens(self, texts: list[str]) -> list[int]: ...


HeaderFormatter = Callable[[int, Passage], str]


def citation_header(n: int, passage: Passage) -> str:
    """The default header: the passage's number in the context, which the generator cites, and where it is from."""
    return f"[{n}] {passage.citation}\n"


@dataclass(frozen=True, slots=True)
class PackedContext:
    """What went into the context and what did not.

    `passages[i]` is rendered under number i + 1 and came from `input[kept[i]]`; a truncated one is a copy with
    its leading sentences as `text`. `truncated` and `dropped` are positions in the input list. `tokens` is the
    count of `text` itself, never more than `budget`.
    """

    passages: tuple[Passage, ...]
    text: str
    tokens: int
    budget: int
    kept: tuple[int, ...]
    truncated: tuple[int, ...]
    dropped: tuple[int, ...]


@dataclass(slots=True)
class _Entry:
    index: int
    passage: Passage
    truncated: bool


def pack_context(
    passages: Sequence[Passage],
    counter: TokenCounter,
    budget: int,
    *,
    header: HeaderFormatter = citation_header,
    separator: str = "\n\n",
    min_cut_tokens: int = 16,
) -> PackedContext:
    """Pack `passages` (best first) into at most `budget` tokens of `header + text` blocks joined by `separator`.

    Passages are taken in rank order. One that fits whole goes in whole. One that does not is cut to the most
    leading sentences that fit, provided they hold at least `min_cut_tokens` tokens (a lone short sentence is
    rarely worth its header); otherwise it is dropped. Later passages are still tried, so a short one can use the
    budget a long one left; the context keeps rank order and numbers passages consecutively.

    Pieces are counted separately while packing; the rendered context is then counted once as a whole, and if the
    tokenizer counts the whole as more than its pieces, trailing sentences are removed until it fits.

    Raises:
        ValueError: a negative budget.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0, not {budget}")
    entries: list[_Entry] = []
    dropped: list[int] = []
    separator_tokens = counter.count_tokens([separator])[0] if separator else 0
    used = 0
    for index, passage in enumerate(passages):
        joint = separator_tokens if entries else 0
        header_tokens, text_tokens = counter.count_tokens([header(len(entries) + 1, passage), passage.text])
        room = budget - used - joint - header_tokens
        if text_tokens <= room:
            entries.append(_Entry(index, passage, truncated=False))
            used += joint + header_tokens + text_tokens
            continue
        cut = _leading_sentences(passage.text, counter, room, min_cut_tokens)
        if cut is None:
            dropped.append(index)
            continue
        cut_text, cut_tokens = cut
        entries.append(_Entry(index, dataclasses.replace(passage, text=cut_text), truncated=True))
        used += joint + header_tokens + cut_tokens

    text = _render(entries, header, separator)
    tokens = _count(counter, text)
    while tokens > budget:
        last = entries.pop()
        shorter = _without_last_sentence(last.passage.text, counter, min_cut_tokens)
        if shorter is None:
            dropped.append(last.index)
        else:
            entries.append(_Entry(last.index, dataclasses.replace(last.passage, text=shorter), truncated=True))
        text = _render(entries, header, separator)
        tokens = _count(counter, text)

    return PackedContext(
        passages=tuple(e.passage for e in entries),
        text=text,
        tokens=tokens,
        budget=budget,
        kept=tuple(e.index for e in entries),
        truncated=tuple(e.index for e in entries if e.truncated),
        dropped=tuple(sorted(dropped)),
    )


def _leading_sentences(text: str, counter: TokenCounter, room: int, min_tokens: int) -> tuple[str, int] | None:
    """The longest run of leading sentences of `text` that fits in `room` tokens, with its count; None if none does.

    Summed sentence counts give a first guess; the joined candidate is then counted itself and the guess moved,
    since a tokenizer may count a joined text differently from its pieces (BPE merges the space between them).
    """
    sentences = split_sentences(text)
    if room <= 0 or len(sentences) < 2:
        return None  # a single sentence that did not fit whole cannot be cut

    def prefix(keep: int) -> str:
        return "".join(sentences[:keep]).rstrip()

    total, keep = 0, 0
    for count in counter.count_tokens(sentences[:-1]):
        if total + count > room:
            break
        total += count
        keep += 1
    while keep > 0 and _count(counter, prefix(keep)) > room:
        keep -= 1
    while keep + 1 < len(sentences) and _count(counter, prefix(keep + 1)) <= room:
        keep += 1
    if keep == 0:
        return None
    tokens = _count(counter, prefix(keep))
    return (prefix(keep), tokens) if tokens >= min_tokens else None


def _without_last_sentence(text: str, counter: TokenCounter, min_tokens: int) -> str | None:
    sentences = split_sentences(text)
    if len(sentences) < 2:
        return None
    shorter = "".join(sentences[:-1]).rstrip()
    return shorter if _count(counter, shorter) >= min_tokens else None


def _render(entries: list[_Entry], header: HeaderFormatter, separator: str) -> str:
    return separator.join(header(n, e.passage) + e.passage.text for n, e in enumerate(entries, start=1))


def _count(counter: TokenCounter, text: str) -> int:
    return counter.count_tokens([text])[0] if text else 0
