"""Checks on a generated answer before anyone sees it: citations, support, links.

A small model cites numbers that do not exist, repeats a link it saw in a poisoned document, or writes a
sentence the passages do not support. `check_answer` removes what can be removed safely (citations of no
passage, links and images that are not in the sources) and flags the rest: sentences whose words overlap too
little with the passages they cite (or, uncited, with any passage).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from retrieval.passages import Passage
from retrieval.sentences import split_sentences
from retrieval.terms import terms

_CITATION = re.compile(r"\[(\d{1,3})\]")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_FENCE = re.compile(r"</?\s*documents\s*>", re.IGNORECASE)  # the prompt's block tags, echoed by small models
_URL = re.compile(r"\bhttps?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?。，]", re.IGNORECASE)  # not a closing full stop


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """The answer as it may be shown, which passages it cites (1-based numbers), and what the checks found."""

    text: str
    cited: tuple[int, ...]
    removed_citations: tuple[int, ...] = ()
    removed_links: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = field(default=())

    @property
    def grounded(self) -> bool:
        return not self.unsupported


def _strip_links(text: str, sources: str) -> tuple[str, list[str]]:
    removed: list[str] = []

    def image(match: re.Match[str]) -> str:
        removed.append(match.group(2))
        return match.group(1)

    def link(match: re.Match[str]) -> str:
        if match.group(2) in sources:
            return match.group(0)
        removed.append(match.group(2))
        return match.group(1)

    def url(match: re.Match[str]) -> str:
        if match.group(0) in sources:
            return match.group(0)
        removed.append(match.group(0))
        return ""

    text = _FENCE.sub("", text)
    text = _IMAGE.sub(image, text)  # images are never shown, even from a source: they load from elsewhere
    text = _LINK.sub(link, text)
    return _URL.sub(url, text), removed


def _support(sentence: str, passages: Sequence[str]) -> float:
    """The share of the sentence's content words that occur in the passages (0 when it has none)."""
    words = set(terms(_CITATION.sub(" ", sentence)))
    if not words:
        return 1.0
    found = set()
    for text in passages:
        found |= words & set(terms(text))
    return len(found) / len(words)


def _remove_bad_citations(text: str, passages: int) -> tuple[str, list[int]]:
    removed: list[int] = []

    def citation(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if 1 <= number <= passages:
            return match.group(0)
        removed.append(number)
        return ""

    return _CITATION.sub(citation, text), removed


def check_answer(answer: str, passages: Sequence[Passage], *, min_support: float = 0.5) -> CheckedAnswer:
    """Remove citations of no passage and links not in the sources; flag sentences below `min_support`."""
    sources = "\n".join(p.text for p in passages)
    text, removed_links = _strip_links(answer, sources)
    text, removed_citations = _remove_bad_citations(text, len(passages))
    text = re.sub(r"[ \t]+([.,;:!?。，；：！？])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    cited = sorted({int(n) for n in _CITATION.findall(text)})
    unsupported = []
    for sentence in split_sentences(text):
        numbers = [int(n) for n in _CITATION.findall(sentence)]
        evidence = [passages[n - 1].text for n in numbers] if numbers else [p.text for p in passages]
        if _support(sentence, evidence) < min_support:
            unsupported.append(sentence.strip())
    return CheckedAnswer(text, tuple(cited), tuple(removed_citations), tuple(removed_links), tuple(unsupported))


_OPEN_TAIL = re.compile(r"[!-~]*$")  # a trailing run of printable ASCII: possibly an unfinished URL or [n]


class StreamFilter:
    """The removable checks of `check_answer`, applied to an answer while it streams.

    Text is released only up to a point where no link, image or citation can still be open: a trailing ASCII
    word waits for the next space (it may be the start of a URL), and an unclosed `[` waits for its `]` and,
    when a `(` follows, for the `)`. What is released has foreign links, images and citations of no passage
    removed, so a poisoned passage's link never reaches the client, not even for a moment.
    """

    def __init__(self, passages: Sequence[Passage]) -> None:
        self._sources = "\n".join(p.text for p in passages)
        self._count = len(passages)
        self._pending = ""
        self.removed_links: list[str] = []
        self.removed_citations: list[int] = []

    def feed(self, delta: str) -> str:
        self._pending += delta
        cut = self._safe_cut(self._pending)
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return self._clean(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return self._clean(ready)

    @staticmethod
    def _safe_cut(text: str) -> int:
        cut = len(text) - len(_OPEN_TAIL.search(text).group(0))  # type: ignore[union-attr] - always matches
        opening = text.rfind("[", 0, cut)
        if opening != -1:
            closing = text.find("]", opening, cut)
            open_link = closing != -1 and closing + 1 < cut and text[closing + 1] == "(" and ")" not in text[closing:cut]
            if closing == -1 or closing + 1 >= cut or open_link:
                cut = opening - 1 if opening > 0 and text[opening - 1] == "!" else opening
        return cut

    def _clean(self, text: str) -> str:
        if not text:
            return ""
        text, links = _strip_links(text, self._sources)
        text, citations = _remove_bad_citations(text, self._count)
        self.removed_links += links
        self.removed_citations += citations
        return text
