"""Fewer, better passages for a small model: the best-ranked passages, each cut to the sentences that answer.

On a CPU, a small model's answer starts only once it has read its whole prompt, at a few milliseconds a token
(bench/ttft.py): six passages of 200 tokens are most of an answer's wait. Most of those sentences do not bear
on the question, and a 135M model is distracted by them anyway. So before packing, the retrieved passages are
cut to the first `passages` of them, each to its `sentences` best sentences by the rule that picks the
extractive answer's quotes (`answer.extractive.sentence_scores`), kept in document order so that a sentence's
context still reads as written. A sentence longer than the quote limit (a flattened table) is cut to its
window with the most question terms, as quotes are.

The kept passages are copies with the shorter `text`; their numbers, titles and sources are unchanged, so
citations and the grounding checks (which look only at what the model read) work as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from answer.extractive import SentenceEmbedder, sentence_scores, shorten
from retrieval.passages import Passage
from retrieval.sentences import split_sentences
from retrieval.terms import terms


@dataclass(frozen=True, slots=True)
class Focus:
    """How much of the retrieved passages the model reads: the first `passages` (0: all), each cut to its best
    `sentences` (0: whole); `dense`: sentences scored with the retriever's multilingual model where it has one,
    as the extractive quotes are (off: by the question's terms, as `extract` does without it; embedding the
    sentences costs 0.25-1 s on a busy 2-core CPU, a quarter of the wait it saves)."""

    passages: int = 3
    sentences: int = 2
    dense: bool = False

    def __post_init__(self) -> None:
        if self.passages < 0 or self.sentences < 0:
            raise ValueError(f"passages and sentences must be >= 0, not {self.passages}, {self.sentences}")


def focus_passages(
    question: str, passages: Sequence[Passage], focus: Focus, *, embed: SentenceEmbedder | None = None
) -> list[Passage]:
    """The first `focus.passages` of `passages` (best first), each cut to its best `focus.sentences` sentences
    in document order. A passage whose sentences cannot be scored (a question without terms) is kept whole."""
    kept = list(passages[: focus.passages] if focus.passages else passages)
    if not focus.sentences or not kept:
        return kept
    scores = sentence_scores(question, kept, embed=embed)
    wanted = frozenset(terms(question))
    return [_cut(p, s, focus.sentences, wanted) for p, s in zip(kept, scores, strict=True)]


def _cut(passage: Passage, scores: list[float], keep: int, wanted: frozenset[str]) -> Passage:
    sentences = split_sentences(passage.text)
    if not scores or len(scores) != len(sentences):
        return passage
    best = sorted(sorted(range(len(scores)), key=lambda i: -scores[i])[:keep])
    pieces = [shorten(sentences[i].strip(), wanted) for i in best]
    ends = ["\n" if "\n" in sentences[i][len(sentences[i].rstrip()) :] else " " for i in best]
    text = "".join(piece + end for piece, end in zip(pieces, ends, strict=True)).rstrip()
    return passage if text == passage.text.strip() else dataclasses.replace(passage, text=text)
