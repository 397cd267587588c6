"""Answering a question: plan, retrieve, decide whether anything relevant was found, pack, generate, check, and
hand on to a larger model what the small one did not answer well.

One service for every way of asking (`/v1/ask`, `/v1/chat/completions`, `docent ask`, Slack), so the rules
that make a small model trustworthy live in one place:

- The question is planned first (`answer.planner`): made standalone, classified, split into sub-questions that
  are searched separately and merged. Chit-chat and out-of-scope questions are answered without retrieval.
- Nothing relevant retrieved (the best passage's dense cosine under a threshold calibrated per language, see
  `bench/abstain.py`) → "not found in the documents" with the closest sources, and the model is not called.
- Passages are packed into the model's context budget, measured in its tokens, so prompt plus answer never
  exceed its context length.
- The answer is checked (`answer.grounding`): markup, citations of no passage and links their sentence's cited
  passages do not have are removed, unsupported sentences flagged, and a recital of the prompt's rules makes it
  a failed answer. Streaming applies the same removals as text arrives.
- With no generator, or one that fails (or writes a failed answer) before its first token reaches the client,
  the extractive answer (quoted sentences) is given instead, and the response says so (`mode`,
  `fallback_reason`).
- One `Deadline` bounds every model call of an answer until the answer starts to reach its client; its
  cancellation (the client went away) stops the model at its next token.
- With larger tiers configured, the small model's answer is checked against the evidence (`answer.routing`) and,
  when it falls short, the same messages go to the next tier; `route` says which tier answered and why.
"""

from __future__ import annotations

import collections.abc as abc
import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import TypeVar, cast

from answer.deadline import Deadline
from answer.extractive import extract
from answer.focus import Focus, focus_passages
from answer.generation import ChatMessage, Completion, Generator
from answer.grounding import StreamFilter, check_answer, cosine_across, invented_facts
from answer.planner import Plan, Planner, QuestionType, RulePlanner, canned_reply
from answer.prompts import CHIT_CHAT_PROMPT, CONDENSE_PROMPT, NOT_FOUND, QUOTED_ACROSS, build_messages, prompt_echo
from answer.routing import (
    NO_CHECKS,
    AnswerChecks,
    Budget,
    EscalationBudget,
    EscalationPolicy,
    Evidence,
    Reason,
    Route,
    Tier,
)
from answer.sentence_vectors import SentenceVectors
from answer.translation import QueryTranslator
from retrieval.access import Access
from retrieval.errors import GeneratorUnavailableError
from retrieval.filters import NO_FILTERS, SearchFilters
from retrieval.index import DENSE, DENSE_MULTI
from retrieval.packing import PackedContext, pack_context
from retrieval.passages import Passage
from retrieval.search import Retriever, SearchRequest, SearchResult, SentenceEmbedder
from retrieval.sentences import split_sentences
from retrieval.terms import terms

log = logging.getLogger("docent.answer")
R = TypeVar("R")


class AnswerMode(StrEnum):
    GENERATED = "generated"  # written by the model from the passages
    EXTRACTIVE = "extractive"  # sentences quoted from the passages, no model
    NOT_FOUND = "not_found"  # the documents do not contain the answer
    CHAT = "chat"  # a greeting or thanks, answered without retrieval
    OUT_OF_SCOPE = "out_of_scope"  # not a question about the documents, declined without retrieval


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
    doc_type: str = ""
    modified: str | None = None  # the document's modification time, ISO 8601 (None: unknown)

    @classmethod
    def of(cls, number: int, passage: Passage, snippet_chars: int = 300) -> Citation:
        text = " ".join(passage.text.split())
        snippet = text if len(text) <= snippet_chars else text[:snippet_chars].rsplit(" ", 1)[0] + " …"
        return cls(
            number,
            passage.document_id,
            passage.title,
            passage.source,
            passage.headings,
            passage.page,
            snippet,
            round(passage.score, 4),
            passage.doc_type,
            passage.modified,
        )

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
    caller: str = ""  # who asks (the API key id): whose escalation budget a hand-on spends


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer, built once when it is finished (the runner's last step adds its timings and route)."""

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
    markup_removed: bool = False  # the model wrote markup (removed); an internal signal, not in `to_dict`
    translations: list[str] = field(default_factory=list)  # sentences translating a passage: internal too
    fallback_reason: str | None = None
    model: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})
    timings_ms: dict[str, float] = field(default_factory=dict)
    route: Route | None = None  # which model tier answered and why (None: no model was involved)

    def to_dict(self, *, internal: bool = False) -> dict[str, object]:
        """The answer as its client sees it; `internal` adds what only reports and logs may show (the generated
        text an extractive answer replaced)."""
        data = asdict(self)
        if not internal:
            data.pop("markup_removed")
            data.pop("translations")
            if data["route"] is not None:
                data["route"].pop("discarded")
        return data


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of a streamed answer, already cleaned of foreign links and citations of no passage."""

    text: str


@dataclass(frozen=True, slots=True)
class Sources:
    """The passages the model reads, numbered as it cites them: sent (by `Answerer.events`) before the model's
    first token, so that a client shows where the answer comes from while it waits for the text. The finished
    `Answer`'s citations are the final word: the passages the text cites, or an extractive answer's own."""

    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    passages: int = 6  # passages retrieved for the context
    # Below these cosines of the best passage nothing counts as relevant (calibrated in bench/abstain.py): "en"
    # the main model's (all-MiniLM-L6-v2, which judges English only), "zh" and "multilingual_en" the
    # multilingual model's (USE) for Chinese and for other queries. Either model finding one is enough.
    min_relevance: dict[str, float] = field(default_factory=lambda: {"en": 0.28, "zh": 0.19, "multilingual_en": 0.23})
    max_answer_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    min_support: float = 0.5  # share of a sentence's words found in its cited passages
    fallback_extractive: bool = True  # answer extractively when the generator fails (else the error is raised)
    condense_with_model: bool = True  # rewrite follow-ups with the model (else: previous question + follow-up)
    # Every model call of one answer together (planner, tiers): past it, the fallback (or the error) comes.
    deadline_s: float = 20.0
    safety_tokens: int = 32  # kept free below the context length, for the chat template's own tokens
    # What the model reads (answer/focus.py): the best passages cut to their best sentences (None: every passage
    # whole, as many as fit), and a bound on the packed passages in its tokens (None: all that fit). A small
    # model on a CPU reads its prompt at milliseconds a token before its answer starts (bench/ttft.py).
    focus: Focus | None = None
    context_tokens: int | None = None
    # An answer's token cap by question type ("lookup": a sentence or two), under each tier's own cap: a server
    # reserves room for max_tokens, so a small cap lets it batch more answers (README, "Generation").
    max_tokens_by_type: dict[str, int] = field(default_factory=dict)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def is_not_found(text: str, language: str) -> bool:
    """Whether the model gave the not-found reply (a small model may shorten or decorate it)."""
    wanted = set(terms(NOT_FOUND.get(language, NOT_FOUND["en"])))
    said = set(terms(text))
    return bool(wanted) and len(wanted & said) >= 0.8 * len(wanted) and len(said) <= 2 * len(wanted)


class Answerer:
    """Answers `AskRequest`s from `retriever`'s passages with `generator` (None: extractive answers only).

    `tiers` replaces `generator` when there is more than one model: the first is the small model that always
    answers first, the others are asked in order when `policy` finds its answer wanting and `budget` allows."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator | None,
        options: AnswerOptions | None = None,
        *,
        tiers: Sequence[Tier] | None = None,
        planner: Planner | None = None,
        policy: EscalationPolicy | None = None,
        budget: Budget | None = None,
        checks: AnswerChecks | None = None,
        translator: QueryTranslator | None = None,
    ) -> None:
        self.retriever = retriever
        self.options = options or AnswerOptions()
        if tiers is None:
            tiers = [Tier("small", generator, self.options.max_answer_tokens, self.options.stop)] if generator else []
        self.tiers = list(tiers)
        self.generator = self.tiers[0].generator if self.tiers else None
        self.planner = planner or RulePlanner()
        self.policy = policy or EscalationPolicy()
        self.budget: Budget = budget or EscalationBudget(None, None)
        self.checks = checks or AnswerChecks()
        self.translator = translator  # the question in the other language for BM25 (a model server's turn)

    def close(self) -> None:
        """Close the larger tiers' clients (the small model belongs to whoever passed it in)."""
        for tier in self.tiers[1:]:
            tier.generator.close()

    @property
    def routing(self) -> bool:
        """Whether answers may be handed on to a larger tier."""
        return len(self.tiers) > 1

    @property
    def holds_back(self) -> bool:
        """Whether a streamed answer is checked whole before its client sees it (a larger tier may take it, or
        the extractive answer replace it): the small model's text then reaches the client in one piece."""
        return self.routing or self.checks != NO_CHECKS

    # -- the steps -------------------------------------------------------------------------------------------

    def deadline(self) -> Deadline:
        """A new answer's deadline (the API keeps it to cancel the answer when its client goes away)."""
        return Deadline(self.options.deadline_s)

    def condense(self, question: str, conversation: Sequence[ChatMessage], deadline: Deadline) -> str:
        """A standalone question for retrieval: the follow-up rewritten with the conversation's context."""
        earlier = [m for m in conversation if m.role in {"user", "assistant"} and m.content.strip()]
        if not earlier:
            return question
        previous = next((m.content for m in reversed(earlier) if m.role == "user"), "")
        if self.generator is not None and self.options.condense_with_model:
            turns = "\n".join(f"{m.role.capitalize()}: {m.content.strip()[:500]}" for m in earlier[-6:])
            messages = [
                ChatMessage("system", CONDENSE_PROMPT),
                ChatMessage("user", f"Conversation:\n{turns}\n\nFollow-up question: {question}"),
            ]
            try:
                rewritten = self.generator.complete(
                    messages, max_tokens=96, stop=("\n",), deadline=deadline
                ).text.strip()
            except GeneratorUnavailableError as exc:
                log.warning("condense failed, using the previous question: %s", exc.message)
                rewritten = ""
            if rewritten and len(rewritten) <= 3 * len(question) + 300:
                return rewritten
        return f"{previous} {question}".strip() if previous else question

    def plan(self, request: AskRequest, deadline: Deadline) -> tuple[Plan, dict[str, float]]:
        """The question's plan: made standalone (by the planner itself, or condensed here) and classified; with
        the time each step took.

        A condensed follow-up is classified as it was asked ("thanks!" stays chit-chat, and the previous
        question prepended to it does not make it a multi-part one); the condensed text is what is searched."""
        question = request.question.strip()
        started = time.perf_counter()
        if self.planner.rewrites and not request.extractive:
            plan = self.planner.plan(question, request.conversation, deadline=deadline)
            return plan, {"plan": _ms(started)}
        timings: dict[str, float] = {}
        condensed = self.condense(question, request.conversation, deadline)
        if request.conversation:
            timings["condense"] = _ms(started)
        started = time.perf_counter()
        rules = RulePlanner() if self.planner.rewrites else self.planner  # an extractive request asks no model
        plan = rules.plan(question)
        timings["plan"] = _ms(started)
        return (replace(plan, query=condensed) if condensed != question else plan), timings

    def retrieve(self, request: AskRequest, plan: Plan, *, translation: str | None = None) -> SearchResult:
        """The plan's query searched (with its `translation` for the keyword side, when there is one), and
        each sub-question searched separately, merged turn by turn (each query's best passage first) so that
        every part of the question is in the context."""
        k = self.options.passages * (2 if plan.type is QuestionType.SUMMARISATION else 1)
        requests = [SearchRequest(plan.query, request.access, k=k, filters=request.filters, translation=translation)]
        requests += [SearchRequest(q, request.access, k=k, filters=request.filters) for q in plan.sub_questions]
        results = [self.retriever.search(r) for r in requests]
        if len(results) == 1:
            return results[0]
        merged: list[Passage] = []
        seen: set[tuple[str, tuple[int, int]]] = set()
        for rank in range(k):
            for result in results:
                if rank < len(result.passages):
                    p = result.passages[rank]
                    if (p.document_id, p.chunks) not in seen:
                        seen.add((p.document_id, p.chunks))
                        merged.append(p)
        timings = {name: round(sum(r.timings_ms.get(name, 0.0) for r in results), 2) for name in results[0].timings_ms}
        first = results[0]
        return SearchResult(merged[: k + 2 * len(plan.sub_questions)], first.language, first.lists, timings)

    def relevant(self, result: SearchResult) -> bool:
        """Whether a dense model found a passage close enough: the main model (for what it judges) or the
        multilingual one (for any language, across languages too). Without either cosine (no dense model
        searched), any passage counts."""
        if not result.passages:
            return False
        t = self.options.min_relevance
        dense, multilingual = best_score(result, DENSE), best_score(result, DENSE_MULTI)
        if dense is None and multilingual is None:
            return True
        multilingual_threshold = t["zh"] if result.language == "zh" else t.get("multilingual_en", t["zh"])
        return (dense is not None and dense >= t["en"]) or (
            multilingual is not None and multilingual >= multilingual_threshold
        )

    def pack(
        self, question: str, passages: Sequence[Passage], language: str
    ) -> tuple[PackedContext, list[ChatMessage]]:
        """The passages that fit the small model's context, and the messages built from them (the messages
        every tier is asked with)."""
        assert self.generator is not None
        g = self.generator
        empty = build_messages(question, PackedContext((), "", 0, 0, (), (), ()), language=language)
        overhead = sum(g.count_tokens([m.content for m in empty])) + 8 * len(empty)
        budget = g.context_length - self.tiers[0].max_answer_tokens - overhead - self.options.safety_tokens
        if self.options.context_tokens is not None:
            budget = min(budget, self.options.context_tokens)
        if self.options.focus is not None:
            embed = self.retriever.multilingual_embedder if self.options.focus.dense else None
            passages = focus_passages(question, passages, self.options.focus, embed=embed)
        context = pack_context(passages, g, max(budget, 0))
        return context, build_messages(question, context, language=language)

    # -- answering -------------------------------------------------------------------------------------------
    #
    # One runner (`_run`) walks plan → retrieval → tiers → last rung for both `answer()` and `stream()`, so a
    # whole and a streamed answer cannot route differently. Each step returns what it made and how long it
    # took; the runner alone keeps the timings and the route, and builds the `Answer` once, at the end.

    def answer(self, request: AskRequest, deadline: Deadline | None = None) -> Answer:
        """The whole answer, within `deadline` (default: a new one of `options.deadline_s`)."""
        answer: Answer | None = None
        for event in self._run(request, deadline or self.deadline(), stream_tokens=False):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, request: AskRequest, deadline: Deadline | None = None) -> Iterator[Delta | Answer]:
        """`Delta`s as the answer is written, then the finished `Answer` (whose text is the deltas joined and
        tidied). A generator failure before the first delta falls back like `answer()`; after it, it is raised:
        part of the answer is already with the client.

        An answer that is checked before its client sees it (`holds_back`: larger tiers may take it, or the
        extractive answer replace it) is prepared exactly as `answer()` prepares it and sent in one piece;
        only an answer nothing will check streams token by token.

        Closing the iterator, or cancelling `deadline`, stops the model at once and gives its turn back."""
        return _without_sources(self.events(request, deadline))

    def events(
        self, request: AskRequest, deadline: Deadline | None = None
    ) -> abc.Generator[Delta | Sources | Answer, None, None]:
        """`stream()`'s events with, before the model's first token, the `Sources` it reads (when a model is
        asked at all): a client shows them while the model reads its prompt. With the extractive fallback on,
        they come as soon as the passages are packed; with it off, right before the first `Delta`, so that a
        model that fails before answering is still an error before anything was sent (the API's 503)."""
        return self._run(request, deadline or self.deadline(), stream_tokens=True)

    def _prepare(self, request: AskRequest, deadline: Deadline) -> tuple[Plan, SearchResult | None, dict[str, float]]:
        """The plan and, when the plan needs it, the retrieved passages; with the time each step took."""
        plan, timings = self.plan(request, deadline)
        if not plan.needs_retrieval:
            return plan, None, timings
        translation = None
        if self.translator is not None:
            started = time.perf_counter()
            translation = self.translator.translate(plan.query, deadline=deadline)
            timings["translate"] = _ms(started)
        started = time.perf_counter()
        result = self.retrieve(request, plan, translation=translation)
        timings["retrieve"] = _ms(started)
        return plan, result, timings

    def _run(
        self, request: AskRequest, deadline: Deadline, *, stream_tokens: bool
    ) -> abc.Generator[Delta | Sources | Answer, None, None]:
        plan, result, timings = self._prepare(request, deadline)
        streamed = False
        if result is None:
            answer, route, generated_ms = self._direct(plan, deadline)
            if generated_ms is not None:
                timings["generate"] = generated_ms
        elif not self.relevant(result):
            answer, route = self._not_found(plan.query, result), Route("none", None, [], plan=plan.to_dict())
        elif self.generator is None or request.extractive:
            answer, timings["extract"] = self._extractive(plan.query, result)
            route = Route("none", None, [], plan=plan.to_dict())
        else:
            started = time.perf_counter()
            context, messages = self.pack(plan.query, result.passages, result.language)
            timings["pack"] = _ms(started)
            route = Route("none", None, [], plan=plan.to_dict())
            sources = Sources(tuple(Citation.of(n, p) for n, p in enumerate(context.passages, 1)))
            early = stream_tokens and self.options.fallback_extractive
            if early:
                yield sources  # nothing can fail now: a failing model gives way to the quotes
            later = sources if stream_tokens and not early else None  # with the first text
            if stream_tokens and not self.holds_back:
                steps_run = self._stream_tier(plan, result, context, messages, route, deadline)
                answer, steps = yield from _preceded(later, steps_run)
                streamed = True
            else:
                answer, steps = self._ask_tiers(request, plan, result, context, messages, route, deadline)
                if later is not None:
                    yield later
            timings.update(steps)
        if not streamed:
            yield Delta(answer.text)
        yield replace(answer, timings_ms=timings, route=route)

    def _ask_tiers(
        self,
        request: AskRequest,
        plan: Plan,
        result: SearchResult,
        context: PackedContext,
        messages: Sequence[ChatMessage],
        route: Route,
        deadline: Deadline,
    ) -> tuple[Answer, dict[str, float]]:
        """The tiers asked in order with the same messages, each whole: a tier's answer is checked and handed on
        while the policy finds it wanting and the budget allows; a tier that fails is handed on (or the answer so
        far stands). The last rung: an answer failing `AnswerChecks` that cannot be handed on is replaced by the
        extractive one. Records every tier asked, failed and timed in `route`."""
        timings: dict[str, float] = {}
        best: Answer | None = None
        failure: GeneratorUnavailableError | None = None
        model = self.retriever.multilingual_embedder  # the check and the extractive answer share its vectors
        vectors = SentenceVectors(model) if model is not None else None
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        last = len(self.tiers) - 1
        for number, tier in enumerate(self.tiers):
            route.tiers.append(tier.name)
            started = time.perf_counter()
            try:
                completion = self._complete(tier, messages, plan, deadline)
                usage = {
                    "prompt_tokens": usage["prompt_tokens"] + completion.prompt_tokens,
                    "completion_tokens": usage["completion_tokens"] + completion.completion_tokens,
                }
                answer = self._finish(completion.text, context, plan.query, result, usage, tier, embed=vectors)
            except GeneratorUnavailableError as exc:
                route.timings_ms[tier.name] = _ms(started)
                route.failed.append(tier.name)
                failure = failure or exc
                handed_on = number < last and self._hand_on(request, route, [Reason.FAILED])
                log.warning("tier %s failed (%s): %s", tier.name, "handed on" if handed_on else "stopping", exc.message)
                if handed_on:
                    continue
                if best is None and not route.escalated and not self.options.fallback_extractive:
                    raise
                break  # the answer so far stands (or, if no tier answered, the extractive one)
            route.timings_ms[tier.name] = _ms(started)
            timings["generate"] = round(sum(route.timings_ms.values()), 2)
            best = answer
            route.tier, route.model = tier.name, tier.generator.model
            evidence = self._evidence(answer, plan, result, completion.finish_reason)
            if number == 0:
                route.evidence = asdict(evidence)  # recorded with one tier too: what `bench/routing.py` tunes on
            route.failed_checks = self.checks.failures(evidence)
            if number == last:
                break
            reasons = list(dict.fromkeys(self.policy.reasons(evidence) + route.failed_checks))
            if not reasons or not self._hand_on(request, route, reasons):
                break
        if best is None:  # every tier asked failed
            assert failure is not None
            answer, timings["extract"] = self._extractive(
                plan.query, result, fallback_reason=failure.message, embed=vectors
            )
            return answer, timings
        if route.failed_checks and best.mode is AnswerMode.GENERATED:
            log.info(
                "the %s tier's answer failed %s; answering extractively instead of %r",
                route.tier,
                route.failed_checks,
                best.text[:500],
            )
            quoted, timings["extract"] = self._extractive(plan.query, result, embed=vectors)
            route.discarded = best.text
            route.reasons = list(dict.fromkeys([*route.reasons, *route.failed_checks]))
            route.tier, route.model = "extractive", None
            return replace(quoted, usage=best.usage), timings
        return best, timings

    def _stream_tier(
        self,
        plan: Plan,
        result: SearchResult,
        context: PackedContext,
        messages: Sequence[ChatMessage],
        route: Route,
        deadline: Deadline,
    ) -> abc.Generator[Delta, None, tuple[Answer, dict[str, float]]]:
        """The one tier's answer streamed as it is written (nothing checks it: see `holds_back`). A failure before
        the first delta falls back to the extractive answer like `_ask_tiers`; after it, it is raised."""
        tier = self.tiers[0]
        route.tiers.append(tier.name)
        timings: dict[str, float] = {}
        cleaner = StreamFilter(context.passages, echo=prompt_echo())
        parts: list[str] = []
        started = time.perf_counter()
        try:
            with closing(
                tier.generator.stream(
                    messages,
                    max_tokens=self._max_tokens(tier, messages, plan),
                    temperature=self.options.temperature,
                    stop=tier.stop,
                    deadline=deadline,
                )
            ) as deltas:
                for delta in deltas:
                    if not parts:
                        timings["first_token"] = _ms(started)
                    parts.append(delta)
                    clean = cleaner.feed(delta)
                    if clean:
                        deadline.lift()  # the answer is reaching its client: no fallback can replace it now
                        yield Delta(clean)
                    if cleaner.echoed:
                        break  # reciting the prompt: a failed answer, stop the model here
            if cleaner.echoed and not cleaner.released.strip():
                raise FailedAnswerError("the model repeated its instructions instead of answering")
        except GeneratorUnavailableError as exc:
            route.timings_ms[tier.name] = _ms(started)
            route.failed.append(tier.name)
            if cleaner.released.strip() or not self.options.fallback_extractive:
                raise  # part of the answer is with the client already (or the caller wants the error)
            log.warning("generator failed, answering extractively: %s", exc.message)
            answer, timings["extract"] = self._extractive(plan.query, result, fallback_reason=exc.message)
            yield Delta(answer.text)
            return answer, timings
        rest = cleaner.flush()
        if rest:
            yield Delta(rest)
        timings["generate"] = route.timings_ms[tier.name] = _ms(started)
        raw = "".join(parts)
        # A stream reports no usage: counted here (exactly for the local model, over-estimated for a server).
        usage = {
            "prompt_tokens": sum(tier.generator.count_tokens([m.content for m in messages])),
            "completion_tokens": tier.generator.count_tokens([raw])[0],
        }
        # After an echo, the answer is what the client was sent (the recital was held back and dropped).
        text = cleaner.released if cleaner.echoed else raw
        answer = self._finish(text, context, plan.query, result, usage, tier, echo_fails=False)
        route.tier, route.model = tier.name, tier.generator.model
        return answer, timings

    # -- the answers' parts ----------------------------------------------------------------------------------

    def _direct(self, plan: Plan, deadline: Deadline) -> tuple[Answer, Route, float | None]:
        """Chit-chat and out-of-scope questions, answered without retrieval: a fixed reply, or for chit-chat the
        small model's own when it is the one that planned (the CPU model is not trusted with free text). Returns
        the answer, its route and how long the model took (None: no model was asked)."""
        mode = AnswerMode.OUT_OF_SCOPE if plan.type is QuestionType.OUT_OF_SCOPE else AnswerMode.CHAT
        text, model, tier, generated_ms = canned_reply(plan), None, "none", None
        if mode is AnswerMode.CHAT and self.planner.rewrites and self.generator is not None:
            lang = plan.language if plan.language in CHIT_CHAT_PROMPT else "en"
            started = time.perf_counter()
            try:
                reply = self.generator.complete(
                    [ChatMessage("system", CHIT_CHAT_PROMPT[lang]), ChatMessage("user", plan.query)],
                    max_tokens=80,
                    deadline=deadline,
                ).text.strip()
            except GeneratorUnavailableError as exc:
                log.warning("chit-chat reply failed, answering with the fixed one: %s", exc.message)
                reply = ""
            if reply:
                text, model, tier = reply, self.generator.model, self.tiers[0].name
                generated_ms = _ms(started)
        route = Route(tier, model, [tier] if model else [], plan=plan.to_dict())
        return Answer(text, mode, [], plan.query, plan.language, model=model), route, generated_ms

    def _not_found(self, question: str, result: SearchResult, fallback_reason: str | None = None) -> Answer:
        closest = [Citation.of(n, p) for n, p in enumerate(result.passages[:3], 1)]
        lang = result.language if result.language in NOT_FOUND else "en"
        return Answer(
            NOT_FOUND[lang], AnswerMode.NOT_FOUND, closest, question, result.language, fallback_reason=fallback_reason
        )

    def _extractive(
        self,
        question: str,
        result: SearchResult,
        fallback_reason: str | None = None,
        *,
        embed: SentenceEmbedder | None = None,
    ) -> tuple[Answer, float]:
        """The passages' own sentences that answer `question`, and how long finding them took; `embed` is the
        multilingual model (default: the retriever's), or this answer's `SentenceVectors` of it."""
        started = time.perf_counter()
        found = extract(question, result.passages, embed=embed or self.retriever.multilingual_embedder)
        took = _ms(started)
        if not found.found:
            return self._not_found(question, result, fallback_reason), took
        citations = [Citation.of(n, result.passages[n - 1]) for n in found.cited]
        note = QUOTED_ACROSS.get((result.language, found.language))
        text = f"{note} {found.text}" if note else found.text
        return Answer(
            text, AnswerMode.EXTRACTIVE, citations, question, result.language, fallback_reason=fallback_reason
        ), took

    def _finish(
        self,
        text: str,
        context: PackedContext,
        question: str,
        result: SearchResult,
        usage: dict[str, int],
        tier: Tier,
        *,
        echo_fails: bool = True,
        embed: SentenceEmbedder | None = None,
    ) -> Answer:
        """The checked answer; `FailedAnswerError` when the model recited its rules (unless `echo_fails` is off:
        a stream whose recital was dropped while the rest was already sent). `embed` as for `_extractive`."""
        checked = check_answer(text, context.passages, min_support=self.options.min_support, echo=prompt_echo())
        if checked.echoed and echo_fails:
            log.warning("the model repeated its instructions: %r", checked.echoed[:2])
            raise FailedAnswerError("the model repeated its instructions instead of answering")
        if is_not_found(checked.text, result.language):
            not_found = self._not_found(question, result)
            return replace(
                not_found,
                removed_citations=list(checked.removed_citations),
                removed_links=list(checked.removed_links),
                markup_removed=checked.markup,
                model=tier.generator.model,
                usage=usage,
            )
        numbers = checked.cited or tuple(range(1, min(3, len(context.passages)) + 1))
        citations = [Citation.of(n, context.passages[n - 1]) for n in numbers]
        unsupported, translations = list(checked.unsupported), []
        embed = embed or self.retriever.multilingual_embedder
        if unsupported and embed is not None:  # words cannot support a sentence translating a passage
            cosine = cosine_across(unsupported, context.passages, embed)
            translations = [
                s for s, c in zip(unsupported, cosine, strict=False) if c >= self.checks.min_cosine_translation
            ]
            unsupported = [s for s, c in zip(unsupported, cosine, strict=False) if c < self.checks.min_cosine_across]
        return Answer(
            checked.text,
            AnswerMode.GENERATED,
            citations,
            question,
            result.language,
            grounded=not unsupported,
            cited=bool(checked.cited),
            unsupported=unsupported,
            removed_citations=list(checked.removed_citations),
            removed_links=list(checked.removed_links),
            markup_removed=checked.markup,
            translations=translations,
            model=tier.generator.model,
            usage=usage,
        )

    def _evidence(self, answer: Answer, plan: Plan, result: SearchResult, finish_reason: str) -> Evidence:
        rerank = [p.scores["rerank"] for p in result.passages if "rerank" in p.scores]
        fused = [p.scores["fused"] for p in result.passages if "fused" in p.scores]
        generated = answer.mode is AnswerMode.GENERATED
        across = _across(result)
        return Evidence(
            question_type=plan.type,
            language=result.language,
            best_dense=retrieval_cosine(result),
            best_rerank=max(rerank) if rerank else None,
            sentences=len([s for s in split_sentences(answer.text) if s.strip()]) if generated else 0,
            unsupported=len(answer.unsupported),
            cited=answer.cited,
            not_found=answer.mode is AnswerMode.NOT_FOUND,
            words=len(list(terms(answer.text))) if generated else 0,
            truncated=finish_reason == "length",
            best_fused=max(fused) if fused else None,
            han_share=han_share(prose(answer.text)) if generated else None,
            letters=sum(ch.isalpha() for ch in prose(answer.text)) if generated else 0,
            repeated=repeated_share(answer.text) if generated else 0.0,
            markup=answer.markup_removed,
            across=across,
            support_measured=not across or self.retriever.multilingual_embedder is not None,
            invented=len(invented_facts(answer.text, result.passages, plan.query, answer.translations))
            if generated
            else 0,
        )

    def _hand_on(self, request: AskRequest, route: Route, reasons: list[str]) -> bool:
        """Whether the escalation budget allows handing the answer on; records why (not) in `route`."""
        refused = self.budget.take(request.caller)
        if refused is not None:
            route.budget_exhausted = refused
            route.reasons = reasons
            log.info("escalation refused: the %s budget is spent (reasons %s)", refused, reasons)
            return False
        route.escalated = True
        route.reasons = list(dict.fromkeys([*route.reasons, *reasons]))
        return True

    def _complete(self, tier: Tier, messages: Sequence[ChatMessage], plan: Plan, deadline: Deadline) -> Completion:
        return tier.generator.complete(
            messages,
            max_tokens=self._max_tokens(tier, messages, plan),
            temperature=self.options.temperature,
            stop=tier.stop,
            deadline=deadline,
        )

    def _max_tokens(self, tier: Tier, messages: Sequence[ChatMessage], plan: Plan) -> int:
        """The tier's answer cap, lowered for the question's type (`max_tokens_by_type`), and shrunk when its
        context is smaller than the small model's (rare)."""
        cap = min(tier.max_answer_tokens, self.options.max_tokens_by_type.get(plan.type.value, tier.max_answer_tokens))
        if tier is self.tiers[0]:
            return cap
        prompt = sum(tier.generator.count_tokens([m.content for m in messages])) + 8 * len(messages)
        room = tier.generator.context_length - prompt - self.options.safety_tokens
        return max(16, min(cap, room))


def _without_sources(events: abc.Generator[Delta | Sources | Answer]) -> abc.Generator[Delta | Answer]:
    with closing(events):
        for event in events:
            if not isinstance(event, Sources):
                yield event


def _preceded(first: Sources | None, events: abc.Generator[Delta, None, R]) -> abc.Generator[Delta | Sources, None, R]:
    """`events` with `first` (when there is one) before its first item; returns what `events` returns. Closing
    this closes `events` (a model's stream: its turn is given back at once)."""
    with closing(events):
        if first is not None:
            try:
                item = next(events)
            except StopIteration as stop:
                return cast(R, stop.value)
            yield first
            yield item
        return (yield from events)


class FailedAnswerError(GeneratorUnavailableError):
    """The model answered, but not usably (it recited its rules): handled like a model that failed."""


_NOT_PROSE = re.compile(r"https?://\S+|\b[\w-]+(?:\.[\w-]+)+\b|\[\d{1,3}\]")


def prose(text: str) -> str:
    """`text` without URLs, dotted names (hosts, versions) and citations: the words whose language counts."""
    return _NOT_PROSE.sub(" ", text)


def han_share(text: str) -> float | None:
    """Of `text`'s letters, the share that are Chinese characters (None: no letters)."""
    letters = [ch for ch in text if ch.isalpha()]
    return (
        sum("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in letters) / len(letters)
        if letters
        else None
    )


def repeated_share(text: str) -> float:
    """The share of `text`'s term trigrams that occurred earlier in it: a model looping writes the same
    phrases again (0 for an answer under 12 terms, too short to tell)."""
    words = list(terms(re.sub(r"\[\d{1,3}\]", " ", text)))
    if len(words) < 12:
        return 0.0
    grams = list(zip(words, words[1:], words[2:], strict=False))
    return 1.0 - len(set(grams)) / len(grams)


def _across(result: SearchResult) -> bool:
    """Whether most passages are in the other language than the question (the answer's words then cannot be
    found in them: without the multilingual model, support cannot be judged)."""
    other = sum(p.language != result.language for p in result.passages)
    return other > len(result.passages) / 2


def best_score(result: SearchResult, stage: str) -> float | None:
    """The best score of one stage (a list's name, "fused" or "rerank") among the result's passages."""
    return max((p.scores[stage] for p in result.passages if stage in p.scores), default=None)


def retrieval_cosine(result: SearchResult) -> float | None:
    """The dense cosine that says how well retrieval went: the main model's where it searched (English),
    else the multilingual model's (Chinese queries), as the routing thresholds were calibrated."""
    dense = best_score(result, DENSE) if DENSE in result.lists else None
    return dense if dense is not None else best_score(result, DENSE_MULTI)
