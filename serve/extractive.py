"""Extractive answers: the passages' sentences that best match the question, quoted with citations.

No model is involved, so this mode answers instantly, cannot invent anything, and is what Docent falls back to
when the generator is down. A sentence scores by the question terms it contains, each weighted by how rare the
term is among the candidate sentences (an IDF over this small set), and a little by its passage's rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.passages import Passage
from retrieval.sentences import split_sentences
from retrieval.terms import terms


@dataclass(frozen=True, slots=True)
class ExtractiveAnswer:
    """Quoted sentences, each followed by its passage number [n]; empty when no sentence matches the question."""

    text: str
    cited: tuple[int, ...]
    sentences: tuple[str, ...]

    @property
    def found(self) -> bool:
        return bool(self.sentences)


def extract(question: str, passages: Sequence[Passage], *, max_sentences: int = 3) -> ExtractiveAnswer:
    wanted = set(terms(question))
    candidates = [
        (rank, sentence.strip(), set(terms(sentence)))
        for rank, passage in enumerate(passages, 1)
        for sentence in split_sentences(passage.text)
        if sentence.strip()
    ]
    if not wanted or not candidates:
        return ExtractiveAnswer("", (), ())
    df = {t: sum(t in words for _, _, words in candidates) for t in wanted}
    n = len(candidates)

    def score(item: tuple[int, str, set[str]]) -> float:
        rank, _, words = item
        matched = sum(math.log(1 + n / df[t]) for t in wanted & words)
        return matched / (1 + 0.1 * (rank - 1)) if matched else 0.0

    scored = sorted(((score(c), i) for i, c in enumerate(candidates)), key=lambda x: -x[0])
    chosen = sorted(i for s, i in scored[:max_sentences] if s > 0)  # in document order, which reads better
    if not chosen:
        return ExtractiveAnswer("", (), ())
    parts = [f"{candidates[i][1]} [{candidates[i][0]}]" for i in chosen]
    cited = tuple(sorted({candidates[i][0] for i in chosen}))
    return ExtractiveAnswer(" ".join(parts), cited, tuple(candidates[i][1] for i in chosen))
