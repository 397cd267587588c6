"""Checks on a generated answer before anyone sees it: markup, citations, links, support, echoed instructions.

A small model cites numbers that do not exist, repeats a link or a `<script>` it saw in a poisoned document,
writes a sentence the passages do not support, or recites its own rules instead of answering. `check_answer`
removes what can be removed safely and flags the rest:

- HTML markup is removed (tags, comments, and `<script>`/`<style>` with their content, also when written as
  entities such as `&lt;script&gt;`), and so is Slack's markup (`<url|text>` keeps its text, `<!channel>` and
  `<@U123>` go): model text is plain text and Markdown, and no markup from a model reaches a page or a Slack
  message. An answer that carried any is marked (`markup`): the answering ladder replaces it;
- citations of no passage are removed;
- a link (a bare URL or a Markdown link's target) stays only when the exact URL appears in a passage that its
  own sentence cites (citing a planted notice elsewhere in the answer vouches for nothing here); images never
  stay (they load from elsewhere the moment they are shown);
- sentences whose words overlap too little with the passages they cite (or, uncited, with any passage) are
  flagged as unsupported; across languages (a Chinese sentence translating an English passage), where no words
  are shared, `unsupported_across` asks the multilingual model instead;
- sentences that repeat the prompt's rules are removed and the answer is marked `echoed`: a failed answer.

`StreamFilter` applies the removals while an answer streams, releasing text only once nothing in it can still
turn out to be removable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from answer.extractive import SentenceEmbedder
from retrieval.passages import Passage
from retrieval.sentences import sentence_pieces, split_sentences
from retrieval.terms import detect_language, terms

_CITATION = re.compile(r"\[(\d{1,3})\]")
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_URL = re.compile(r"\bhttps?://[^\s<>()\[\]]*[^\s<>()\[\].,;:!?。，]", re.IGNORECASE)  # not a closing full stop
# Markup, by hand rather than with an HTML sanitizer (nh3, bleach): a sanitizer's output is HTML, with every
# `<` and `&` of the text escaped, while a model's answer is Markdown shown as text; only the tags must go.
_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# A tag: a name, then attributes as HTML writes them (so "a<b [1]." or "x < y" is text, not a tag).
_ATTRIBUTES = r"""(?:\s+[A-Za-z_:@][\w:.@-]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>=`]+))?)*\s*/?"""
_TAG = re.compile(rf"<[A-Za-z][\w:-]*{_ATTRIBUTES}>|</[A-Za-z][\w:-]*\s*>")
# Slack's own markup: a link `<url|text>` or `<url>`, a mention `<@U123>`, `<#C123|name>`, `<!channel>`.
_SLACK = re.compile(
    r"<((?:https?|mailto|tel|ftp):[^<>|\s]*)(?:\|([^<>]*))?>|<[!@#][^<>\s|]*(?:\|[^<>]*)?>", re.IGNORECASE
)
_OPEN_SCRIPT = re.compile(r"<(script|style)\b", re.IGNORECASE)
# The same, still being written at the end of the text (its attributes may be cut anywhere).
_PARTIAL_ATTRIBUTES = r"""(?:\s+[A-Za-z_:@][\w:.@-]*(?:\s*=\s*(?:"[^"]*"?|'[^']*'?|[^\s"'<>=`]*))?)*\s*/?"""
_UNCLOSED_BLOCK = re.compile(r"<(?:script|style)\b.*|<!--.*", re.IGNORECASE | re.DOTALL)  # to the end
_UNCLOSED_TAG = re.compile(rf"<[A-Za-z][\w:-]*{_PARTIAL_ATTRIBUTES}$|</[A-Za-z][\w:-]*\s*$")
_SENTENCE_END = re.compile(r"[.!?。！？\n]")
ECHO_SHINGLE = 3  # terms in a row that a sentence must share with a rule, several times, to be an echo of it


@dataclass(frozen=True, slots=True)
class CheckedAnswer:
    """The answer as it may be shown, which passages it cites (1-based numbers), and what the checks found."""

    text: str
    cited: tuple[int, ...]
    removed_citations: tuple[int, ...] = ()
    removed_links: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = field(default=())
    echoed: tuple[str, ...] = ()  # sentences that repeated the prompt's rules (removed from `text`)
    markup: bool = False  # the model wrote HTML or Slack markup (removed from `text`)

    @property
    def grounded(self) -> bool:
        return not self.unsupported


def strip_markup(text: str) -> str:
    """`text` without HTML: scripts and styles with their content, comments, and every tag (its text stays);
    a tag, comment or script left open at the end goes to the end. Entities are decoded first (a model that
    writes `&lt;script&gt;` wrote a script for whatever renders it), twice at most (`&amp;lt;`). Slack's
    links keep their text (or their URL, which the link check then judges), its mentions go."""
    for _ in range(3):
        before = text
        text = _UNCLOSED_BLOCK.sub("", _COMMENT.sub("", _SCRIPT.sub("", unescape(text))))
        text = _UNCLOSED_TAG.sub("", _TAG.sub("", _SLACK.sub(_slack_text, text)))
        if text == before:
            break
    return text


_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def unescape(text: str) -> str:
    """`text` with its complete HTML entities decoded (`&lt;` but not `&lt`, which may be a stream's half)."""
    return _ENTITY.sub(lambda m: html.unescape(m.group(0)), text)


def _slack_text(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if url is None:
        return ""  # a mention or a channel-wide notification
    return label if label and label.strip() else url


def urls_of(passages: Iterable[Passage]) -> frozenset[str]:
    """Every URL written in the passages (as the answer's URLs are found): what a cited passage vouches for."""
    return frozenset(url for p in passages for url in _URL.findall(p.text))


def _strip_images(text: str) -> tuple[str, list[str]]:
    """Images are never shown, even from a source: they load from elsewhere the moment they are displayed."""
    removed: list[str] = []

    def image(match: re.Match[str]) -> str:
        removed.append(match.group(2))
        return match.group(1)

    return _IMAGE.sub(image, text), removed


def _strip_links(text: str, allowed: frozenset[str]) -> tuple[str, list[str]]:
    removed: list[str] = []

    def link(match: re.Match[str]) -> str:
        if match.group(2) in allowed:
            return match.group(0)
        removed.append(match.group(2))
        return match.group(1)

    def url(match: re.Match[str]) -> str:
        if match.group(0) in allowed:
            return match.group(0)
        removed.append(match.group(0))
        return ""

    text = _LINK.sub(link, text)
    return _URL.sub(url, text), removed


class PromptEcho:
    """Recognizes sentences that recite the prompt's rules (a small model's failure mode): a sentence sharing
    `ECHO_SHINGLE` terms in a row with a rule, for at least half of the rule's runs or three of them."""

    def __init__(self, rules: Iterable[str], *, allowed: Iterable[str] = ()) -> None:
        may_repeat = frozenset(s for text in allowed for s in _shingles(text))  # e.g. the not-found reply
        self._rules = [r for r in (frozenset(_shingles(rule)) - may_repeat for rule in rules) if r]
        self._all = frozenset().union(*self._rules) if self._rules else frozenset()

    def suspicious(self, sentence: str) -> bool:
        """Whether the sentence so far shares a run with any rule (it may become an echo: hold it)."""
        return bool(self._all) and not self._all.isdisjoint(_shingles(sentence))

    def echoes(self, sentence: str) -> bool:
        found = set(_shingles(sentence))
        return any(len(found & rule) >= min(3, max(1, len(rule) // 2)) for rule in self._rules)


NO_ECHO = PromptEcho(())


def _shingles(text: str) -> list[tuple[str, ...]]:
    words = list(terms(_CITATION.sub(" ", text)))
    return [tuple(words[i : i + ECHO_SHINGLE]) for i in range(len(words) - ECHO_SHINGLE + 1)]


def _support(sentence: str, passages: Sequence[frozenset[str]]) -> float:
    """The share of the sentence's content words that occur in the passages' terms (1.0 when it has none: nothing
    to vouch for)."""
    words = set(terms(_CITATION.sub(" ", sentence)))
    if not words:
        return 1.0
    found = set()
    for passage_terms in passages:
        found |= words & passage_terms
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


def check_answer(
    answer: str, passages: Sequence[Passage], *, min_support: float = 0.5, echo: PromptEcho = NO_ECHO
) -> CheckedAnswer:
    """Remove markup, citations of no passage, links their sentence's cited passages do not have, and
    sentences that recite the prompt's rules; flag sentences below `min_support`."""
    text = strip_markup(answer)
    markup = text != unescape(answer)  # tags were removed, not only entities decoded
    text, removed_citations = _remove_bad_citations(text, len(passages))
    kept: list[str] = []
    echoed: list[str] = []
    for sentence in _units(sentence_pieces(text)):
        (echoed if echo.echoes(sentence) else kept).append(sentence)
    text, removed_links = _strip_unvouched_links("".join(kept), passages)
    text = _tidy(text)
    unsupported = []

    @cache
    def passage_terms(number: int) -> frozenset[str]:
        """A passage's terms, once per answer: several sentences citing the same passages (or none, so every
        passage) would otherwise segment it again each time (jieba and the stemmer are the check's cost)."""
        return frozenset(terms(passages[number - 1].text))

    for sentence in split_sentences(text):
        numbers = [int(n) for n in _CITATION.findall(sentence)] or range(1, len(passages) + 1)
        if _support(sentence, [passage_terms(n) for n in numbers]) < min_support:
            unsupported.append(sentence.strip())
    return CheckedAnswer(
        text,
        _cited(text),
        tuple(removed_citations),
        tuple(removed_links),
        tuple(unsupported),
        tuple(s.strip() for s in echoed),
        markup,
    )


def cosine_across(sentences: Sequence[str], passages: Sequence[Passage], embed: SentenceEmbedder) -> list[float]:
    """Each sentence's best multilingual cosine to a sentence *in the other language* of the passages it cites
    (uncited: of any passage); -1 where there is no such sentence. A Chinese answer that translates an English
    passage shares no words with it, so where words cannot vouch for a sentence this does: at
    `AnswerChecks.min_cosine_across` it is supported, at `min_cosine_translation` it is a translation
    (`bench/support.py` chose both). The cosine cannot tell one name from another; `invented_facts` checks names."""
    texts = [_CITATION.sub(" ", s).strip() for s in sentences]
    asked = {detect_language(text) for text in texts}
    pieces = [(n, s.strip()) for n, p in enumerate(passages, 1) for s in split_sentences(p.text) if s.strip()]
    # Only a sentence in another language than some answer sentence can count: the others are not embedded (on
    # one-language documents, none is, and this costs no model call).
    languages = [detect_language(text) for _, text in pieces]
    across = [i for i, language in enumerate(languages) if asked - {language}]
    pieces, languages = [pieces[i] for i in across], [languages[i] for i in across]
    if not sentences or not pieces:
        return [-1.0] * len(sentences)
    owner = np.array([n for n, _ in pieces])
    cosine = embed.embed_documents(texts) @ embed.embed_documents([text for _, text in pieces]).T
    best = []
    for row, sentence, text in zip(cosine, sentences, texts, strict=False):
        cited = [int(n) for n in _CITATION.findall(sentence) if 1 <= int(n) <= len(passages)]
        language = detect_language(text)
        scope = (np.isin(owner, cited) if cited else np.ones(len(pieces), dtype=bool)) & np.array(
            [other != language for other in languages]
        )
        best.append(float(row[scope].max(initial=-1.0)))
    return best


def unsupported_across(
    sentences: Sequence[str], passages: Sequence[Passage], embed: SentenceEmbedder, min_cosine: float
) -> list[str]:
    """Of `sentences` (those whose words the passages do not support), the ones no sentence of the passages in
    the other language comes within `min_cosine` of (`cosine_across`)."""
    return [s for s, c in zip(sentences, cosine_across(sentences, passages, embed), strict=False) if c < min_cosine]


# A name, a title or a code in Latin script: a word with two capitals or more (CEO, KelpGrid, KELP-GUEST,
# INC-7) anywhere, or a capitalised word that does not open its sentence, line or list item.
_NAME = re.compile(r"\b(?:[A-Z][\w-]*[A-Z0-9][\w-]*|[A-Z][a-z]{2,}[\w-]*)\b")
_OPENS = re.compile(r"(?:^|[.!?:;•*>|\n]|[-–—]\s|\d[.)])\s*[\"'“‘(\[]?$")


def unknown_names(sentence: str, known: str) -> list[str]:
    """The names in `sentence` that `known` (lower-cased passages and question) does not contain."""
    text = _CITATION.sub(" ", sentence)
    found = [
        m.group(0) for m in _NAME.finditer(text) if not (_OPENS.search(text[: m.start()]) and m.group(0)[1:].islower())
    ]
    return [name for name in dict.fromkeys(found) if name.lower() not in known]


def _cited(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(n) for n in _CITATION.findall(text)}))


def _vouched(sentence: str, passages: Sequence[Passage]) -> frozenset[str]:
    """The URLs a sentence may carry: those of the passages it cites."""
    return urls_of(passages[n - 1] for n in _cited(sentence) if 1 <= n <= len(passages))


def _strip_unvouched_links(text: str, passages: Sequence[Passage]) -> tuple[str, list[str]]:
    """`text` without images, and each sentence's links kept only when a passage it cites has the exact URL."""
    text, removed = _strip_images(text)  # first: a "!" would end a sentence in the middle of "![alt](url)"
    pieces = []
    for sentence in sentence_pieces(text):
        piece, links = _strip_links(sentence, _vouched(sentence, passages))
        pieces.append(piece)
        removed += links
    return "".join(pieces), removed


def _tidy(text: str) -> str:
    return re.sub(r"[ \t]+([.,;:!?。，；：！？])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


_OPEN_TAIL = re.compile(r"[!-~]*$")  # a trailing run of printable ASCII: possibly an unfinished URL or [n]
_OPEN_TAG = re.compile(
    rf"<[A-Za-z][\w:-]*{_PARTIAL_ATTRIBUTES}$|</[A-Za-z]?[\w:-]*\s*$|<!?-?-?$"
    r"|<(?:[A-Za-z]+:|[!@#])[^<>\n]*$|&#?\w*$"
)  # being written (a tag, a Slack link, an entity)
# A sentence is known to be over once its full stop is followed by a space (it may be "51820." of "51820.5").
_PARTIAL_WORD = re.compile(r"[A-Za-z0-9_'’-]+$")
_FINISHED = re.compile(r"(?:[。！？；][”’」』)）\"']*\s*|[.!?][”’\"')]*\s+|\n+)$")


class StreamFilter:
    """The removals of `check_answer`, applied to an answer while it streams.

    Text is released only once nothing in it can still turn out to be removable, so nothing removable reaches
    the client, not even for a moment:
    - a trailing ASCII word waits for the next space (it may be the start of a URL), an unclosed `[` for its
      `]` and, when a `(` follows, for the `)`;
    - an unclosed `<` waits for its `>`, an open `<script>` or `<style>` for its end (both are then removed);
    - a URL waits until its sentence cites a passage that has it, or until the sentence ends (then it is
      removed if none did);
    - a sentence's first words wait until it is clear they do not recite the prompt's rules, and a sentence
      that shares wording with a rule waits until it ends; one that recites a rule is dropped (`echoed`).
    """

    def __init__(self, passages: Sequence[Passage], *, echo: PromptEcho = NO_ECHO) -> None:
        self._passages = list(passages)
        self._echo = echo
        self._pending = ""
        self._mid_sentence = False  # whether released text ended inside a sentence
        self.removed_links: list[str] = []
        self.removed_citations: list[int] = []
        self.echoed: list[str] = []
        self.released = ""  # what the client has been sent

    def feed(self, delta: str) -> str:
        self._pending += delta
        return self._release(final=False)

    def flush(self) -> str:
        return self._release(final=True)

    def _release(self, *, final: bool) -> str:
        text, held = unescape(self._pending), ""  # a script written as entities is held like one written out
        if not final:  # an unfinished tag or script stays held, with everything after it
            opening = _last_open_script(text)
            tag = _OPEN_TAG.search(text)
            comment = text.rfind("<!--")
            cut = min(
                opening if opening is not None else len(text),
                tag.start() if tag else len(text),
                comment if comment != -1 and "-->" not in text[comment:] else len(text),
            )
            text, held = text[:cut], text[cut:]
        text = strip_markup(text)
        pieces = sentence_pieces(text)
        tail = pieces.pop() if pieces and not final and not _FINISHED.search(pieces[-1]) else ""
        units = _units(pieces)
        if units and not final and _words(units[-1]) < 2:  # a list number or "Yes." waits for what follows
            tail = units.pop() + tail
        kept = []
        for piece in units:
            if self._echo.echoes(piece):
                self.echoed.append(piece.strip())
            else:
                kept.append(piece)
        settled = _PARTIAL_WORD.sub("", tail)  # a Latin word still being written is not a word yet
        if tail and (self._echo.suspicious(settled) or (not self._mid_sentence and _words(settled) < ECHO_SHINGLE)):
            held = tail + held  # it may yet recite a rule
            tail = ""
        ready = "".join(kept) + tail
        cut = len(ready) if final else self._safe_cut(ready)
        out = ready[:cut]
        self._pending = ready[cut:] + held
        if out.strip():
            self._mid_sentence = not _FINISHED.search(out)
        out = self._clean(out)
        self.released += out
        return out

    def _safe_cut(self, text: str) -> int:
        tail = _OPEN_TAIL.search(text)
        assert tail is not None  # the pattern matches the empty string too
        cut = len(text) - len(tail.group(0))
        opening = text.rfind("[", 0, cut)
        if opening != -1:
            closing = text.find("]", opening, cut)
            open_link = (
                closing != -1 and closing + 1 < cut and text[closing + 1] == "(" and ")" not in text[closing:cut]
            )
            if closing == -1 or closing + 1 >= cut or open_link:
                cut = opening - 1 if opening > 0 and text[opening - 1] == "!" else opening
        # A URL in the sentence still being written waits for that sentence's citations (one in a finished
        # sentence is decided when it is cleaned).
        pieces = sentence_pieces(text[:cut])
        last = pieces[-1] if pieces and not _FINISHED.search(pieces[-1]) else ""
        start_of_last = cut - len(last)
        allowed = _vouched(last, self._passages)
        images = [m.span() for m in _IMAGE.finditer(text, 0, cut)]
        for match in _URL.finditer(text, start_of_last, cut):
            if match.group(0) in allowed or any(a <= match.start() < b for a, b in images):
                continue  # vouched for, or inside an image (always removed)
            start = match.start()
            if text[:start].endswith("]("):  # a Markdown link's target: hold the link from its `[`
                bracket = text.rfind("[", 0, start - 2)
                start = bracket if bracket != -1 else start
            return min(cut, start)
        return cut

    def _clean(self, text: str) -> str:
        if not text:
            return ""
        text, citations = _remove_bad_citations(text, len(self._passages))
        text, links = _strip_unvouched_links(text, self._passages)
        self.removed_links += links
        self.removed_citations += citations
        return text


def _last_open_script(text: str) -> int | None:
    """Where an unclosed `<script` or `<style` starts (None: every one is closed)."""
    for match in reversed(list(_OPEN_SCRIPT.finditer(text))):
        if not re.search(rf"</{match.group(1)}\s*>", text[match.end() :], re.IGNORECASE):
            return match.start()
    return None


def _words(text: str) -> int:
    """Words with a letter in them: "1." numbers a list, it says nothing yet."""
    return sum(1 for term in terms(text) if not term.isdigit())


def _units(pieces: list[str]) -> list[str]:
    """Sentence pieces, a piece of fewer than two words (a list number, "Rules:", "Yes.") joined to the next:
    "1. Use only facts stated in the documents." is judged as one sentence."""
    units, carry = [], ""
    for piece in pieces:
        carry += piece
        if _words(carry) >= 2:
            units.append(carry)
            carry = ""
    if carry:
        units.append(carry)
    return units


# A number (250,000 / 10:00 / 4.2 / 8443) or a dotted name (vpn.example.com), as a model may invent one.
_FACT_TOKEN = re.compile(r"(?<![\w.])(?:\d[\d,]*(?:[.:]\d+)*|[A-Za-z][\w-]*(?:\.[A-Za-z0-9-]+)+)(?![\w])")
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)


def invented_facts(
    answer: str, passages: Sequence[Passage], question: str = "", translations: Sequence[str] = ()
) -> list[str]:
    """The numbers, dotted names (hosts, versions) and names (`unknown_names`) in `answer` that no passage and
    not the question contains: a port, a date, an amount or a name the model made up. The cheapest check that
    catches a small model's most harmful errors ("port 843" for 8443, "2026" for 2025, a code name or a title
    that is in no document), whatever the language.

    `translations` are the answer's sentences that closely translate a passage sentence in the other language
    (`cosine_across`): their names are not counted, since the other language may write a name differently
    (丹佛野马队 is "Denver Broncos"); a sentence built around a made-up name is not that close to any."""
    text = _LIST_MARKER.sub(" ", _CITATION.sub(" ", answer))
    context = question + "\n" + "\n".join(p.text for p in passages)
    known = set(_fact_tokens(context))
    facts = [t for t in dict.fromkeys(_fact_tokens(text)) if t not in known]
    lowered = context.lower()
    translated = {n for t in translations for n in unknown_names(t, lowered)}
    names = [n for s in sentence_pieces(text) for n in unknown_names(s, lowered) if n not in translated]
    return facts + [n for n in dict.fromkeys(names) if n.lower() not in facts]


def _fact_tokens(text: str) -> list[str]:
    """The numbers and dotted names in `text`, lower-cased, in order."""
    found = [m.group(0).rstrip(".:,").replace(",", "").lower() for m in _FACT_TOKEN.finditer(text)]
    return [t for t in found if t]
