"""Answering a question: condense, retrieve, decide whether anything relevant was found, pack, generate, check.

One service for every way of asking (`/v1/ask`, `/v1/chat/completions`, `docent ask`, later Slack), so the
rules that make a small model trustworthy live in one place:

- Nothing relevant retrieved (the best passage's dense cosine under a threshold calibrated per language, see
  `bench/abstain.py`) → "not found in the documents" with the closest sources, and the model is not called.
- Passages are packed into the model's context budget, measured in its tokens, so prompt plus answer never
  exceed its context length.
- The answer is checked (`serve.grounding`): citations of no passage and foreign links removed, unsupported
  sentences flagged. Streaming applies the same removals as text arrives.
- With no generator, or one that fails before its first token, the extractive answer (quoted sentences) is
  given instead, and the response says so (`mode`, `fallback_reason`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from retrieval.access import Access
from retrieval.errors import GeneratorUnavailableError
from retrieval.filters import NO_FILTERS, SearchFilters
from retrieval.packing import PackedContext, pack_context
from retrieval.passages import Passage
from retrieval.search import Retriever, SearchRequest, SearchResult
from retrieval.terms import terms
from serve.extractive import extract
from serve.generation import ChatMessage, Generator
from serve.grounding import StreamFilter, check_answer
from serve.prompt import NOT_FOUND, build_messages

log = logging.getLogger("docent.answer")


class AnswerMode(StrEnum):
    GENERATED = "generated"  # written by the model from the passages
    EXTRACTIVE = "extractive"  # sentences quoted from the passages, no model
    NOT_FOUND = "not_found"  # the documents do not contain the answer


@dataclass(frozen=True, slots=True)
class Citation:
    """A source the answer cites as [number]."""

    number: int
    document_id: str
    title: str
    source: str
    headings: tuple[str, ...]
    page: int | None
    snippet: str
    score: float

    @classmethod
    def of(cls, number: int, passage: Passage, snippet_chars: int = 300) -> Citation:
        text = " ".join(passage.text.split())
        snippet = text if len(text) <= snippet_chars else text[:snippet_chars].rsplit(" ", 1)[0] + " …"
        return cls(number, passage.document_id, passage.title, passage.source, passage.headings, passage.page,
                   snippet, round(passage.score, 4))

    @property
    def label(self) -> str:
        """`[n] Title — Section — p. N (source)`, for plain-text references."""
        parts = [self.title or self.source]
        headings = self.headings[1:] if self.headings and self.headings[0] == self.title else self.headings
        if headings:
            parts.append(" > ".join(headings))
        if self.page:
            parts.append(f"p. {self.page}")
        return f"[{self.number}] {' — '.join(parts)} ({self.source})"


@dataclass(frozen=True, slots=True)
class AskRequest:
    question: str
    access: Access
    filters: SearchFilters = NO_FILTERS
    conversation: tuple[ChatMessage, ...] = ()  # earlier turns, oldest first
    extractive: bool = False  # answer without the model even when one is configured


@dataclass(slots=True)
class Answer:
    text: str
    mode: AnswerMode
    citations: list[Citation]
    question: str  # the standalone question that was searched (the condensed one in a conversation)
    language: str
    grounded: bool = True
    # True when `citations` are the passages the text cites as [n]; False when the text cites none and
    # `citations` lists the passages it was written from (a small model often forgets to cite).
    cited: bool = True
    unsupported: list[str] = field(default_factory=list)
    removed_citations: list[int] = field(default_factory=list)
    removed_links: list[str] = field(default_factory=list)
    fallback_reason: str | None = None
    model: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed answer, already cleaned of foreign links and citations of no passage."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    passages: int = 6  # passages retrieved for the context
    # The best passage's dense cosine below which nothing counts as relevant, per query language (calibrated
    # in bench/abstain.py for all-MiniLM-L6-v2 ("en", any non-Chinese query) and the USE model ("zh")).
    min_relevance: dict[str, float] = field(default_factory=lambda: {"en": 0.41, "zh": 0.24})
    max_answer_tokens: int = 384
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    min_support: float = 0.5  # share of a sentence's words found in its cited passages
    fallback_extractive: bool = True  # answer extractively when the generator fails (else the error is raised)
    condense_with_model: bool = True  # rewrite follow-ups with the model (else: previous question + follow-up)
    safety_tokens: int = 32  # kept free below the context length, for the chat template's own tokens


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def is_not_found(text: str, language: str) -> bool:
    """Whether the model gave the not-found reply (a small model may shorten or decorate it)."""
    wanted = set(terms(NOT_FOUND.get(language, NOT_FOUND["en"])))
    said = set(terms(text))
    return bool(wanted) and len(wanted & said) >= 0.8 * len(wanted) and len(said) <= 2 * len(wanted)


class Answerer:
    """Answers `AskRequest`s from `retriever`'s passages with `generator` (None: extractive answers only)."""

    def __init__(self, retriever: Retriever, generator: Generator | None, options: AnswerOptions | None = None) -> None:
        self.retriever = retriever
        self.generator = generator
        self.options = options or AnswerOptions()

    # -- the steps -------------------------------------------------------------------------------------------

    def condense(self, question: str, conversation: Sequence[ChatMessage]) -> str:
        """A standalone question for retrieval: the follow-up rewritten with the conversation's context."""
        earlier = [m for m in conversation if m.role in {"user", "assistant"} and m.content.strip()]
        if not earlier:
            return question
        previous = next((m.content for m in reversed(earlier) if m.role == "user"), "")
        if self.generator is not None and self.options.condense_with_model:
            turns = "\n".join(f"{m.role.capitalize()}: {m.content.strip()[:500]}" for m in earlier[-6:])
            messages = [
                ChatMessage("system", "Rewrite the follow-up question as one standalone question that can be "
                                      "understood without the conversation. Reply with the question only, in "
                                      "the language of the follow-up."),
                ChatMessage("user", f"Conversation:\n{turns}\n\nFollow-up question: {question}"),
            ]
            try:
                rewritten = self.generator.complete(messages, max_tokens=96, stop=("\n",)).text.strip()
            except GeneratorUnavailableError as exc:
                log.warning("condense failed, using the previous question: %s", exc.message)
                rewritten = ""
            if rewritten and len(rewritten) <= 3 * len(question) + 300:
                return rewritten
        return f"{previous} {question}".strip() if previous else question

    def retrieve(self, request: AskRequest, question: str) -> SearchResult:
        return self.retriever.search(SearchRequest(question, request.access, k=self.options.passages,
                                                   filters=request.filters))

    def relevant(self, result: SearchResult) -> bool:
        threshold = self.options.min_relevance.get(result.language, self.options.min_relevance.get("en", 0.0))
        best = max((p.scores.get("dense", p.score) for p in result.passages), default=None)
        return best is not None and best >= threshold

    def pack(self, question: str, passages: Sequence[Passage], language: str) -> tuple[PackedContext, list[ChatMessage]]:
        """The passages that fit the model's context, and the messages built from them."""
        assert self.generator is not None
        g = self.generator
        empty = build_messages(question, PackedContext((), "", 0, 0, (), (), ()), language=language)
        overhead = sum(g.count_tokens([m.content for m in empty])) + 8 * len(empty)
        budget = g.context_length - self.options.max_answer_tokens - overhead - self.options.safety_tokens
        context = pack_context(passages, g, max(budget, 0))
        return context, build_messages(question, context, language=language)

    # -- answering -------------------------------------------------------------------------------------------

    def _prepare(self, request: AskRequest) -> tuple[str, SearchResult, dict[str, float]]:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        question = self.condense(request.question.strip(), request.conversation)
        if request.conversation:
            timings["condense"] = _ms(started)
        started = time.perf_counter()
        result = self.retrieve(request, question)
        timings["retrieve"] = _ms(started)
        return question, result, timings

    def _not_found(self, question: str, result: SearchResult, timings: dict[str, float]) -> Answer:
        closest = [Citation.of(n, p) for n, p in enumerate(result.passages[:3], 1)]
        lang = result.language if result.language in NOT_FOUND else "en"
        return Answer(NOT_FOUND[lang], AnswerMode.NOT_FOUND, closest, question, result.language, timings_ms=timings)

    def _extractive(self, question: str, result: SearchResult, timings: dict[str, float],
                    fallback_reason: str | None = None) -> Answer:
        started = time.perf_counter()
        found = extract(question, result.passages)
        timings["extract"] = _ms(started)
        if not found.found:
            answer = self._not_found(question, result, timings)
            answer.fallback_reason = fallback_reason
            return answer
        citations = [Citation.of(n, result.passages[n - 1]) for n in found.cited]
        return Answer(found.text, AnswerMode.EXTRACTIVE, citations, question, result.language,
                      fallback_reason=fallback_reason, timings_ms=timings)

    def _finish(self, text: str, context: PackedContext, question: str, result: SearchResult,
                timings: dict[str, float], usage: dict[str, int]) -> Answer:
        checked = check_answer(text, context.passages, min_support=self.options.min_support)
        if is_not_found(checked.text, result.language):
            answer = self._not_found(question, result, timings)
        else:
            numbers = checked.cited or tuple(range(1, min(3, len(context.passages)) + 1))
            citations = [Citation.of(n, context.passages[n - 1]) for n in numbers]
            answer = Answer(checked.text, AnswerMode.GENERATED, citations, question, result.language,
                            grounded=checked.grounded, cited=bool(checked.cited), unsupported=list(checked.unsupported),
                            timings_ms=timings)
        answer.removed_citations = list(checked.removed_citations)
        answer.removed_links = list(checked.removed_links)
        answer.model = self.generator.model if self.generator else None
        answer.usage = usage
        return answer

    def answer(self, request: AskRequest) -> Answer:
        question, result, timings = self._prepare(request)
        if not self.relevant(result):
            return self._not_found(question, result, timings)
        if self.generator is None or request.extractive:
            return self._extractive(question, result, timings)
        context, messages = self.pack(question, result.passages, result.language)
        started = time.perf_counter()
        try:
            completion = self.generator.complete(messages, max_tokens=self.options.max_answer_tokens,
                                                 temperature=self.options.temperature, stop=self.options.stop)
        except GeneratorUnavailableError as exc:
            if not self.options.fallback_extractive:
                raise
            log.warning("generator failed, answering extractively: %s", exc.message)
            return self._extractive(question, result, timings, fallback_reason=exc.message)
        timings["generate"] = _ms(started)
        usage = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens}
        return self._finish(completion.text, context, question, result, timings, usage)

    def stream(self, request: AskRequest) -> Iterator[Delta | Answer]:
        """`Delta`s as the answer is written, then the finished `Answer` (whose text is the deltas joined and
        tidied). A generator failure before the first delta falls back like `answer()`; after it, it is raised:
        part of the answer is already with the client."""
        question, result, timings = self._prepare(request)
        if not self.relevant(result):
            answer = self._not_found(question, result, timings)
        elif self.generator is None or request.extractive:
            answer = self._extractive(question, result, timings)
        else:
            answer = yield from self._generate_stream(question, result, timings)
            yield answer
            return
        yield Delta(answer.text)
        yield answer

    def _generate_stream(self, question: str, result: SearchResult,
                         timings: dict[str, float]) -> Iterator[Delta | Answer]:
        assert self.generator is not None
        context, messages = self.pack(question, result.passages, result.language)
        cleaner = StreamFilter(context.passages)
        parts: list[str] = []
        started = time.perf_counter()
        try:
            for delta in self.generator.stream(messages, max_tokens=self.options.max_answer_tokens,
                                               temperature=self.options.temperature, stop=self.options.stop):
                if not parts:
                    timings["first_token"] = _ms(started)
                parts.append(delta)
                clean = cleaner.feed(delta)
                if clean:
                    yield Delta(clean)
        except GeneratorUnavailableError as exc:
            if parts or not self.options.fallback_extractive:
                raise
            log.warning("generator failed, answering extractively: %s", exc.message)
            answer = self._extractive(question, result, timings, fallback_reason=exc.message)
            yield Delta(answer.text)
            return answer
        rest = cleaner.flush()
        if rest:
            yield Delta(rest)
        timings["generate"] = _ms(started)
        raw = "".join(parts)
        # A stream reports no usage: counted here (exactly for the local model, over-estimated for a server).
        usage = {"prompt_tokens": sum(self.generator.count_tokens([m.content for m in messages])),
                 "completion_tokens": self.generator.count_tokens([raw])[0]}
        return self._finish(raw, context, question, result, timings, usage)
