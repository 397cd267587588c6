"""Extractive answers: the passages' sentences that best answer the question, quoted with citations.

No model writes anything, so this mode answers fast, cannot invent anything, and is the last rung of the
routing ladder: what Docent shows when the generator is down or its answer fails the checks.

Each sentence of the retrieved passages is scored by (`bench/extractive.py` chose the rule and its weights on
`examples/facts.json` and its cross-lingual twin; bench/README.md, "Extractive answers"):

- its multilingual dense cosine to the question, standardised among the sentences *of its own language* (the
  multilingual model scores a sentence in the question's language higher whatever it says; per language, the
  best English sentence can beat a mediocre Chinese one for a Chinese question). Without the multilingual
  model, the question's terms in the sentence, each weighted by its rarity among the sentences, stand in;
- the kind of thing asked for: a question for a quantity, a date or a time ("how many", "多少", "when")
  favours sentences that carry a number the question does not; one for a name ("who", "叫什么", "which
  database") favours sentences with a name or code the question does not contain;
- the rank of its passage (retrieval already chose the passages; the first one is usually the document);
- and against it: a sentence that is itself a question (a FAQ's heading), or one that only restates the
  question (no term beyond the question's).

The best two sentences are quoted in document order: short, and the second catches an answer split over two.
A "sentence" longer than `MAX_QUOTE_CHARS` (a flattened table, a run-on list) is cut to the window of it that
holds the most question terms, marked with "…".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from retrieval.passages import Passage
from retrieval.sentences import split_sentences
from retrieval.terms import detect_language, terms

# The weights `bench/extractive.py` chose (leave-one-language-out over the golden files; see the module doc).
DENSE_WEIGHT = 0.5  # per standard deviation of the sentence's cosine among its language's sentences
WANTED_KIND_BONUS = {"quantity": 1.0, "name": 0.5}  # a sentence with what the question asks for
RANK_PENALTY = 0.5  # per passage rank below the first
QUESTION_PENALTY = 1.0  # a sentence that asks a question
MAX_QUOTE_CHARS = 240  # a longer sentence is cut to its best window of about this size
RESTATEMENT_PENALTY = 1.0  # a sentence with no term beyond the question's

_QUANTITY = re.compile(
    r"\bhow (?:many|much|far|long|old|often|soon)\b|\bwhat (?:percentage|percent|year|time|date|day|port|number|"
    r"size|amount|limit|cap)\b|\bwhich (?:port|year|date|day)\b|\bwhen\b|\bdeadline\b|\bminimum\b|\bmaximum\b|"
    r"多少|几|什么时候|何时|哪一?天|哪一?年|多久|多长|多远|多大|多高|端口|日期|期限|上限|下限|频率",
    re.IGNORECASE,
)
_NAME = re.compile(
    r"\bwho\b|\bwhose\b|\bname\b|code.?name|\bcalled\b|\bwhich (?:database|tool|team|product|network|vendor|"
    r"system|service|model|version|city|office|person|host)\b|\bhostname\b|谁|名字|名称|代号|叫什么|哪种|哪个|哪家|主机名",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d[\d,.:]*")
# A name or code: a capitalised word not opening a sentence, or an all-caps or mixed code (KELP-GUEST, INC-7).
_ENTITY = re.compile(r"(?<![.!?]\s)(?<!^)\b(?:[A-Z][\w-]*[A-Z0-9][\w-]*|[A-Z][a-z]+)\b")
_WORD = re.compile(r"[A-Za-z][\w.-]*")


class SentenceEmbedder(Protocol):
    """The multilingual model's two sides (the retriever's): unit vectors for a question and for sentences."""

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class ExtractiveAnswer:
    """Quoted sentences, each followed by its passage number [n]; empty when no sentence matches the question.

    `language` is the language every quoted sentence is written in; when they mix, the question's. The answerer
    says "quoted from documents in Chinese" before an English question's answer only when all of it is."""

    text: str
    cited: tuple[int, ...]
    sentences: tuple[str, ...]
    language: str = "en"

    @property
    def found(self) -> bool:
        return bool(self.sentences)


@dataclass(frozen=True, slots=True)
class _Candidate:
    rank: int  # the passage's number, from 1
    text: str
    language: str
    words: frozenset[str]


def asked_kind(question: str) -> str | None:
    """ "quantity", "name" or None: what kind of thing the question asks for, if it says."""
    if _QUANTITY.search(question):
        return "quantity"
    if _NAME.search(question):
        return "name"
    return None


def extract(
    question: str, passages: Sequence[Passage], *, embed: SentenceEmbedder | None = None, max_sentences: int = 2
) -> ExtractiveAnswer:
    """The `max_sentences` sentences of `passages` that best answer `question`, quoted in document order."""
    wanted = frozenset(terms(question))
    candidates, scores = _scored(question, wanted, passages, embed)
    if not candidates:
        return ExtractiveAnswer("", (), ())
    # A sentence must share something with the question: a term, or (across languages) the dense model's view.
    chosen = sorted(int(i) for i in np.argsort(-scores, kind="stable")[:max_sentences])
    if embed is None:
        chosen = [i for i in chosen if candidates[i].words & wanted]
    if not chosen:
        return ExtractiveAnswer("", (), ())
    quotes = [shorten(candidates[i].text, wanted) for i in chosen]
    parts = [f"{quote} [{candidates[i].rank}]" for quote, i in zip(quotes, chosen, strict=False)]
    cited = tuple(sorted({candidates[i].rank for i in chosen}))
    languages = {candidates[i].language for i in chosen}
    # Not the majority: two quotes in two languages tie, and a tie broken by set order labelled an English
    # quote as Chinese in a real answer.
    language = languages.pop() if len(languages) == 1 else detect_language(question)
    return ExtractiveAnswer(" ".join(parts), cited, tuple(quotes), language)


def sentence_scores(
    question: str, passages: Sequence[Passage], *, embed: SentenceEmbedder | None = None
) -> list[list[float]]:
    """How well each sentence of each passage (`split_sentences(passage.text)`, blank ones left out) answers
    `question`, by the rule `extract` quotes by: `result[i][j]` is passage i's sentence j. Empty lists when the
    question has no terms."""
    wanted = frozenset(terms(question))
    candidates, scores = _scored(question, wanted, passages, embed)
    result: list[list[float]] = [[] for _ in passages]
    for candidate, score in zip(candidates, scores, strict=True):
        result[candidate.rank - 1].append(float(score))
    return result


def _scored(
    question: str, wanted: frozenset[str], passages: Sequence[Passage], embed: SentenceEmbedder | None
) -> tuple[list[_Candidate], np.ndarray]:
    """Every sentence of `passages` with its score; none when the question has no terms."""
    candidates = [
        _Candidate(rank, sentence.strip(), detect_language(sentence), frozenset(terms(sentence)))
        for rank, passage in enumerate(passages, 1)
        for sentence in split_sentences(passage.text)
        if sentence.strip()
    ]
    if not wanted or not candidates:
        return [], np.zeros(0)
    scores = _relevance(question, wanted, candidates, embed)
    scores = scores + _kind_bonus(question, candidates) - RANK_PENALTY * np.array([c.rank - 1 for c in candidates])
    scores -= QUESTION_PENALTY * np.array([c.text.endswith(("?", "？")) for c in candidates])
    scores -= RESTATEMENT_PENALTY * np.array([not (c.words - wanted) for c in candidates])
    return candidates, scores


def shorten(sentence: str, wanted: frozenset[str], limit: int = MAX_QUOTE_CHARS) -> str:
    """`sentence`, or its window of about `limit` characters with the most question terms (ties: the earliest),
    cut at spaces where there are any and marked with "…"."""
    if len(sentence) <= limit:
        return sentence
    step = max(1, limit // 8)
    starts = range(0, len(sentence) - limit + step, step)
    best = max(starts, key=lambda a: (len(wanted & set(terms(sentence[a : a + limit]))), -a))
    start, end = best, min(len(sentence), best + limit)
    if start > 0:
        space = sentence.find(" ", start, start + 20)
        start = space + 1 if space != -1 else start
    if end < len(sentence):
        space = sentence.rfind(" ", end - 20, end)
        end = space if space != -1 else end
    return ("…" if start > 0 else "") + sentence[start:end].strip() + ("…" if end < len(sentence) else "")


def _relevance(
    question: str, wanted: frozenset[str], candidates: list[_Candidate], embed: SentenceEmbedder | None
) -> np.ndarray:
    """Each sentence's match to the question in standard deviations above its language's sentences."""
    if embed is not None:
        raw = embed.embed_documents([c.text for c in candidates]) @ embed.embed_query(question)
    else:
        n = len(candidates)
        df = {t: sum(t in c.words for c in candidates) for t in wanted}
        raw = np.array([sum(math.log(1 + n / df[t]) for t in wanted & c.words) for c in candidates], dtype=float)
    scores = np.zeros(len(candidates))
    for language in {c.language for c in candidates}:
        mask = np.array([c.language == language for c in candidates])
        group = raw[mask]
        scores[mask] = (group - group.mean()) / group.std() if len(group) > 1 and group.std() > 1e-9 else 0.0
    return DENSE_WEIGHT * scores


def _kind_bonus(question: str, candidates: list[_Candidate]) -> np.ndarray:
    kind = asked_kind(question)
    if kind is None:
        return np.zeros(len(candidates))
    if kind == "quantity":
        known = set(_NUMBER.findall(question))
        has = [bool(set(_NUMBER.findall(c.text)) - known) for c in candidates]
    else:
        known = {w.lower() for w in _WORD.findall(question)}
        has = [bool({e.lower() for e in _ENTITY.findall(c.text)} - known) for c in candidates]
    return WANTED_KIND_BONUS[kind] * np.array(has, dtype=float)
